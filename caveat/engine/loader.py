"""Load an engine from a model path (or the embedded model), reporting progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from caveat.engine.model import (
    default_threads,
    file_sha256,
    open_llama,
    read_model_info,
    resolve_model_path,
)
from caveat.engine.offload import GpuLayers, gpu_available, plan_offload

if TYPE_CHECKING:
    from caveat.engine.engine import Engine
    from caveat.engine.remote.engine import RemoteEngine

log = logging.getLogger(__name__)


def load_engine(
    model_path: str | None = None,
    *,
    n_ctx: int = 4096,
    n_threads: int = 0,
    gpu_layers: GpuLayers = "auto",
    progress: Callable[[str, float], None] | None = None,
) -> Engine:
    """Resolve, verify and load the model; raise ModelError with a user-facing message.

    `gpu_layers` is "auto" (every layer when llama.cpp sees a GPU, else none) or a count; a
    count this build cannot offload is logged once as a warning and the model runs on the CPU.
    """
    from caveat.engine.engine import Engine

    t0 = time.perf_counter()
    path = resolve_model_path(model_path, progress)
    sha = file_sha256(path, progress)
    if progress:
        progress("Loading the model", 0.0)
    threads = n_threads if n_threads > 0 else default_threads()
    plan = plan_offload(gpu_layers, gpu_available())
    if plan.message:
        log.log(logging.WARNING if plan.fallback else logging.INFO, "%s", plan.message)
    llm = open_llama(path, n_ctx=n_ctx, n_threads=threads, n_gpu_layers=plan.n_gpu_layers)
    info = read_model_info(llm, path, sha, embedded=not model_path)
    engine = Engine(llm, info)
    engine.warm_up()
    if progress:
        progress("Model ready", 1.0)
    log.info(
        "loaded %s (%s) on the %s in %.2fs",
        info.name,
        path.name,
        plan.device,
        time.perf_counter() - t0,
    )
    return engine


def connect_remote(
    url: str,
    *,
    api_key_env: str | None = None,
    allow_remote: bool = False,
    timeout: float | None = None,
    wire_k: int | None = None,
    api: str = "llama-server",
) -> RemoteEngine:
    """Connect to a llama.cpp server; raise ModelError (RemoteError) with what to do.

    `api` is "llama-server" (`/completion`) or "openai" (`/v1/completions`). A host other than
    this machine is refused unless `allow_remote`; a model caveat has no calibration for is
    logged once (its underlines use the embedded model's defaults).
    """
    from caveat.engine.remote.engine import WIRE_K, RemoteEngine
    from caveat.engine.remote.http import DEFAULT_TIMEOUT, parse_endpoint
    from caveat.engine.remote.openai import OpenAIEngine

    endpoint = parse_endpoint(
        url,
        api_key_env=api_key_env,
        allow_remote=allow_remote,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
    )
    kind = OpenAIEngine if api == "openai" else RemoteEngine
    engine = kind(endpoint, wire_k=WIRE_K if wire_k is None else wire_k)
    log.info(
        "connected to %s serving %s (%d-token slots, %d slots)",
        endpoint.url,
        engine.info.name,
        engine.n_ctx,
        engine.slots,
    )
    if not engine.calibrated:
        log.warning(
            "%s serves a model caveat has no calibration for; underline levels use the "
            "embedded model's defaults",
            endpoint.url,
        )
    return engine
