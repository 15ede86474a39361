"""A real llama-server with the embedded model, for the remote-backend tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from caveat.engine.model import embedded_model_path
from caveat.engine.remote.build import ensure_built
from caveat.engine.remote.process import LlamaServer


@contextmanager
def llama_server(
    *, port: int = 0, parallel: int = 1, n_ctx: int = 2048, api_key: str | None = None
) -> Iterator[LlamaServer]:
    """Build llama-server if needed (minutes, once per machine) and run it on 127.0.0.1."""
    server = LlamaServer(
        ensure_built(),
        embedded_model_path(),
        threads=2,
        n_ctx=n_ctx,
        parallel=parallel,
        port=port,
        api_key=api_key,
    )
    with server:
        yield server
