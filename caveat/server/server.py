"""The caveat language server: shared state, and the ordered registration of its features.

Handlers live in `caveat.server.features` (one module per feature); this class holds what they
share: settings, the model worker, per-document provenance, recent completions (and the last
one shown per document, for typed-ahead answers), and the few helpers that cross from the
worker thread back to the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from caveat import __version__
from caveat.annotate.provenance import DocumentProvenance, Offer
from caveat.annotate.typeahead import ShownCompletions
from caveat.engine.types import Completion
from caveat.scoring.types import Thresholds
from caveat.server.protocol import CaveatProtocol
from caveat.server.settings import Settings
from caveat.server.transport import MAX_MESSAGE_BYTES, StdinFrames, read_frames
from caveat.server.worker import ModelState, ModelWorker

logger = logging.getLogger(__name__)

#: Completions remembered for `caveat.accept` (the newest ones).
MAX_COMPLETIONS = 64


@dataclass(frozen=True)
class CompletionEntry:
    """A completion the server handed out, and where it belongs."""

    uri: str
    version: int | None
    offset: int
    completion: Completion
    offer: Offer | None


class CaveatServer(LanguageServer):
    """pygls server with caveat's shared state; features register onto it."""

    protocol: CaveatProtocol

    def __init__(self) -> None:
        """A server with default settings and an idle model worker."""
        super().__init__(
            "caveat",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=CaveatProtocol,
            # pygls reads stdin through this pool, one read at a time. With its default size
            # (cores + 4) the pool added a thread whenever the next read was submitted before
            # the last thread marked itself idle: `caveat bench soak` saw 6 -> 7 threads.
            max_workers=1,
        )
        # What `caveat serve` flags set (`--server`); the client's settings merge onto it.
        self.base_settings = Settings()
        self.settings = self.base_settings
        self.init_options: Any = None
        self.worker = ModelWorker(on_state=self._on_model_state)
        self.thresholds: Thresholds | None = None
        self.model_name = ""
        self.model_device = ""  # "GPU", "CPU" or "server" once a model is loaded
        self.last_engine_error = ""  # the serving engine's last failure, shown once
        self.documents: dict[str, DocumentProvenance] = {}
        self.completions: OrderedDict[str, CompletionEntry] = OrderedDict()
        self.generations: dict[str, int] = {}
        self.shown = ShownCompletions()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.state_listeners: list[Callable[[ModelState, str | None], None]] = []
        self.background: set[asyncio.Future[Any]] = set()
        self._ids = itertools.count(1)
        self._scan_ids = itertools.count(1)
        self._last_error_popup = float("-inf")
        #: Largest message body read from the client (`caveat serve --max-message-size`).
        self.max_message_bytes = MAX_MESSAGE_BYTES

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve one client over stdin/stdout until `exit` or the end of stdin.

        pygls' own loop would do the same, but reads frames without limits.
        """
        self._stop_event = stop = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        frames = StdinFrames(stdin or sys.stdin.buffer, self.thread_pool)
        reject = partial(self.protocol.send_error, None)
        try:
            asyncio.run(
                read_frames(frames, self.protocol.receive, reject, stop, self.max_message_bytes)
            )
        except BrokenPipeError:
            logger.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()  # type: ignore[no-untyped-call]

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log out-of-band errors; show the user at most one pop-up a minute.

        pygls' default shows every undecodable message or failing notification, so a buggy
        client could flood the editor with pop-ups while the server itself is fine.
        """
        logger.error("server error (%s): %s", getattr(source, "__name__", source), error)
        if getattr(source, "__name__", "") == "FeatureRequestError":
            return  # requests already carry their error in the response
        now = time.monotonic()
        if now - self._last_error_popup < 60.0:
            return
        self._last_error_popup = now
        self.window_show_message(
            types.ShowMessageParams(
                message=f"caveat: {error} (further errors this minute go to the log only)",
                type=types.MessageType.Error,
            )
        )

    # --- thread crossing -------------------------------------------------------------------

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the event loop; safe to call from the worker thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(fn, *args)

    def _on_model_state(self, state: ModelState, error: str | None) -> None:
        """Worker thread: hand model state changes to the listeners on the event loop."""
        for listener in self.state_listeners:
            self.call_soon(listener, state, error)

    # --- documents ---------------------------------------------------------------------------

    def document(self, uri: str) -> TextDocument:
        """The open document, or a clear error for a URI the client never opened."""
        doc: TextDocument | None = self.workspace.text_documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"caveat: document not open: {uri}")
        return doc

    def provenance(self, uri: str) -> DocumentProvenance:
        """The provenance of an open document (created on first use)."""
        prov = self.documents.get(uri)
        if prov is None:
            prov = self.documents[uri] = DocumentProvenance(self.document(uri).source)
        return prov

    def next_completion_id(self) -> str:
        """A fresh completion id, unique for the server's lifetime."""
        return f"c{next(self._ids)}"

    def next_scan_id(self) -> str:
        """A fresh scan id."""
        return f"scan{next(self._scan_ids)}"

    def remember(self, completion_id: str, entry: CompletionEntry) -> None:
        """Keep a completion for acceptance, forgetting the oldest beyond the limit."""
        self.completions[completion_id] = entry
        while len(self.completions) > MAX_COMPLETIONS:
            self.completions.popitem(last=False)

    def bump_generation(self, uri: str) -> int:
        """Mark a new completion request for `uri`; older ones compare and give up."""
        self.generations[uri] = self.generations.get(uri, 0) + 1
        return self.generations[uri]

    # --- notifications -----------------------------------------------------------------------

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """Tell the user something (window/showMessage) and log it."""
        logger.log(logging.ERROR if kind == types.MessageType.Error else logging.WARNING, message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def show_engine_error(self, exc: Exception) -> None:
        """Report a failing serving engine once per distinct message, and in the status.

        Completions ask on every keystroke: a server that is down must not raise a popup each
        time. The status carries the error until a request succeeds again.
        """
        message = f"caveat: {exc}"
        if message != self.last_engine_error:
            self.last_engine_error = message
            self.show(message, types.MessageType.Error)
        self.send_status("error", str(exc))

    def send_status(self, state: str, message: str | None = None, **extra: Any) -> None:
        """Send `caveat/status` (model state, last latency ...)."""
        params: dict[str, Any] = {"state": state, "model": self.model_name}
        if self.model_device:
            params["device"] = self.model_device
        if message is not None:
            params["message"] = message
        params.update({k: v for k, v in extra.items() if v is not None})
        self.protocol.notify("caveat/status", params)


def create_server() -> CaveatServer:
    """A server with every feature registered, in the registry's order."""
    from caveat.server.features import FEATURES

    server = CaveatServer()
    for feature in FEATURES:
        feature.register(server)
    return server
