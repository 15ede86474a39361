"""Settings (initializationOptions, workspace/configuration, didChangeConfiguration) and the
model's lifecycle: load on the worker after `initialized`, reload when `model.*` changes,
report it with work-done progress, `caveat/status` and, on failure, `window/showMessage`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from lsprotocol import types

from caveat.engine.backend import Backend
from caveat.server.progress import WorkDone
from caveat.server.server import CaveatServer
from caveat.server.settings import Settings, parse_settings
from caveat.server.worker import ModelState

logger = logging.getLogger(__name__)

EMBEDDED_NAME = "Gemma 3 270M (embedded)"


def apply_settings(server: CaveatServer, raw: Any, origin: str) -> bool:
    """Merge raw settings onto the current ones; warn about bad values. True if model changed."""
    settings, problems = parse_settings(raw, server.settings)
    if problems:
        server.show(f"caveat: invalid settings in {origin}: " + "; ".join(problems))
    model_changed = settings.model != server.settings.model
    server.settings = settings
    return model_changed


async def pull_configuration(server: CaveatServer) -> Any:
    """Ask the client for section `caveat`, if it can answer; None otherwise."""
    caps = server.client_capabilities.workspace
    if not (caps and caps.configuration):
        return None
    try:
        result = await server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="caveat")])
        )
    except Exception as exc:  # an error answer, or none in time (protocol.CLIENT_TIMEOUT)
        logger.warning(
            "workspace/configuration failed (%s); using initializationOptions and defaults", exc
        )
        return None
    return result[0] if result else None


def _shorten(text: str, limit: int = 400) -> str:
    """`text` cut in the middle when longer than `limit` (a 100 KB path is not a message)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit * 3 // 4]} … {text[-limit // 4 :]}"


def _model_limits(path: str | None) -> tuple[int, int]:
    """The context the model was trained with and the KV bytes per token (0 when unknown).

    Read with a vocabulary-only open (no weights, no KV cache): a fraction of a second.
    """
    from caveat.engine.model import kv_bytes_per_token, open_llama, resolve_model_path

    llm = open_llama(resolve_model_path(path), n_ctx=256, n_threads=1, vocab_only=True)
    try:
        meta: dict[str, str] = dict(llm.metadata)
    finally:
        llm.close()
    value = meta.get(f"{meta.get('general.architecture', '')}.context_length", "0")
    return (int(value) if value.isdigit() else 0), kv_bytes_per_token(meta)


#: Share of the memory available now that the KV cache may take.
KV_MEMORY_SHARE = 0.5


def fit_context(n_ctx: int, trained: int, kv_per_token: int, available: int) -> tuple[int, str]:
    """The context length to use, and why it is less than asked ("" when it is not).

    Capped at the training context, then so that the KV cache takes at most KV_MEMORY_SHARE of
    the memory available (in steps of 256 tokens, never below 256).
    """
    why = ""
    if trained and n_ctx > trained:
        n_ctx, why = trained, f"the model was trained on {trained} tokens"
    if kv_per_token and available:
        fits = int(available * KV_MEMORY_SHARE // kv_per_token) // 256 * 256
        if n_ctx > fits:
            need = n_ctx * kv_per_token / 2**30
            why = (
                f"{n_ctx} tokens of KV cache need {need:.1f} GiB and {available / 2**30:.1f} GiB"
                " of memory is available"
            )
            n_ctx = max(256, fits)
    return n_ctx, why


def _load_function(server: CaveatServer, progress: WorkDone) -> Any:
    """The loader the worker runs: engine, then its calibrated thresholds."""
    model = server.settings.model

    def load() -> Backend:
        from caveat.engine.errors import ModelError
        from caveat.engine.loader import connect_remote
        from caveat.scoring.calibration import load_thresholds

        if model.server:
            remote = connect_remote(
                model.server,
                api_key_env=model.api_key_env or None,
                allow_remote=model.allow_remote,
                api=model.server_api,
            )
            server.thresholds = load_thresholds(remote.info.sha256)
            server.model_name = f"{remote.info.name} on {model.server}"
            server.model_device = "server"
            if not remote.calibrated:
                server.show(
                    f"caveat: {model.server} serves {remote.info.name}, a model caveat has no "
                    "calibration for: underline levels use the embedded model's defaults.",
                    types.MessageType.Warning,
                )
            return remote
        from caveat.engine.loader import load_engine
        from caveat.engine.model import memory_available
        from caveat.engine.offload import gpu_available, plan_offload

        threads = model.threads
        trained, kv_per_token = _model_limits(model.path or None)
        n_ctx, why = fit_context(model.context_length, trained, kv_per_token, memory_available())
        if why:
            logger.warning("model.contextLength %d: %s; using %d", model.context_length, why, n_ctx)
        cores = os.cpu_count() or 1
        if threads > cores:
            logger.warning(
                "model.threads %d is more than the %d CPU cores; using %d", threads, cores, cores
            )
            threads = cores
        try:
            engine = load_engine(
                model.path or None,
                n_ctx=n_ctx,
                n_threads=threads,
                gpu_layers=model.gpu_layers,
                progress=progress.report,
            )
        except ModelError as exc:
            if n_ctx <= Settings().model.context_length:
                raise
            # The file opened above (vocabulary only): the context is what llama.cpp refused.
            raise ModelError(
                f"llama.cpp could not set up a context of {n_ctx} tokens, most likely for lack of"
                " memory for its KV cache: lower `caveat.model.contextLength` (default"
                f" {Settings().model.context_length}). ({_shorten(str(exc.__cause__ or exc))})"
            ) from exc
        server.thresholds = load_thresholds(engine.info.sha256)
        # model_name keeps the name the loading status used: one model, one name.
        server.model_device = plan_offload(model.gpu_layers, gpu_available()).device
        return engine

    return load


async def load_model(server: CaveatServer) -> None:
    """(Re)load the model on the worker thread with a progress bar; returns when done."""
    path = server.settings.model.path
    server.model_name = os.path.basename(path) if path else EMBEDDED_NAME
    if server.settings.model.server:
        server.model_name = server.settings.model.server
    server.model_device = ""
    progress = WorkDone(server, "caveat: loading the model")
    await progress.begin(server.model_name)
    done = server.worker.start(_load_function(server, progress))
    try:
        await asyncio.wrap_future(done)
    finally:
        progress.end("ready" if server.worker.state == "ready" else "failed")


def _on_state(server: CaveatServer, state: ModelState, error: str | None) -> None:
    """Event loop: announce a model state change."""
    if state == "error":
        error = _shorten(error or "")
        server.show(f"caveat: the model could not be loaded. {error}", types.MessageType.Error)
        server.send_status("error", error)
    elif state in ("loading", "ready"):
        server.send_status(state)


def _spawn(server: CaveatServer, coro: Any) -> None:
    """Run a coroutine in the background, keeping a reference so it is not collected."""
    task = asyncio.ensure_future(coro)
    server.background.add(task)
    task.add_done_callback(server.background.discard)


def register(server: CaveatServer) -> None:
    """Register initialize/initialized/didChangeConfiguration."""
    server.state_listeners.append(lambda state, error: _on_state(server, state, error))

    @server.feature(types.INITIALIZE)
    async def initialize(ls: CaveatServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.settings = ls.base_settings
        apply_settings(ls, params.initialization_options, "initializationOptions")

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CaveatServer, params: types.InitializedParams) -> None:
        raw = await pull_configuration(ls)
        if raw is not None:
            apply_settings(ls, raw, "workspace/configuration")
        _spawn(ls, load_model(ls))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: CaveatServer, params: types.DidChangeConfigurationParams
    ) -> None:
        raw = await pull_configuration(ls)
        if raw is None:
            raw = params.settings
        if apply_settings(ls, raw, "the configuration") and ls.worker.started:
            _spawn(ls, load_model(ls))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CaveatServer, params: None) -> None:
        ls.worker.stop()
