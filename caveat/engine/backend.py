"""What the server and the commands need from a model: the in-process engine or a remote one.

`Engine` (llama.cpp in this process, exact full-distribution measures) and `RemoteEngine` (a
llama.cpp server over HTTP, top-k measures) both satisfy it. Benchmarks that time the runtime
itself take `Engine`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from caveat.engine.model import ModelInfo
from caveat.engine.rollout import Rollout, StopFn
from caveat.engine.runtime import EngineStats
from caveat.engine.types import Completion, CompletionRequest
from caveat.records.types import Alternative, TokenRecord

OnToken = Callable[[TokenRecord], None]


class Backend(Protocol):
    """A model caveat completes, scans and reranks with; one owner thread at a time."""

    #: "local" for the in-process engine, else the serving engine's API ("llama-server").
    kind: str
    info: ModelInfo

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        ...

    @property
    def stats(self) -> EngineStats:
        """Cumulative prompt-token and pass counters."""
        ...

    def close(self) -> None:
        """Release what the backend holds."""
        ...

    def warm_up(self) -> None:
        """Make the first request as fast as the next ones."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes."""
        ...

    def complete(
        self,
        req: CompletionRequest,
        *,
        cancel: threading.Event | None = None,
        on_token: OnToken | None = None,
    ) -> Completion:
        """Complete at the cursor, streaming records through `on_token`."""
        ...

    def scan(
        self,
        text: str,
        *,
        cancel: threading.Event | None = None,
        progress: Callable[[float], None] | None = None,
        start_byte: int = 0,
    ) -> list[TokenRecord]:
        """Teacher-forced records of `text` from `start_byte` on."""
        ...

    def roll_candidates(
        self,
        prefix: str,
        candidates: Sequence[Alternative] | None,
        *,
        k: int,
        lookahead: int,
        stop: StopFn,
        cancel: threading.Event | None = None,
    ) -> list[Rollout]:
        """Each candidate after `prefix` rolled out greedily until `stop`."""
        ...
