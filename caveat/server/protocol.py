"""The JSON-RPC protocol: every request answered, the LSP lifecycle kept, bodies bounded.

pygls structures incoming messages while decoding JSON; when a known method's params are
malformed it logs the failure and drops the message, so the client waits forever. Here such a
request becomes a placeholder that is answered with InvalidParams (-32602).

The lifecycle follows the LSP specification: before `initialize` a request is answered
ServerNotInitialized (-32002) and a notification is dropped (except `exit`); a second
`initialize` is InvalidRequest, a second `initialized` is ignored; after `shutdown` requests are
answered InvalidRequest (-32600); `exit` ends the process with 0 after `shutdown`, 1 otherwise.

The workspace pygls creates on `initialize` is replaced by one whose documents split lines by
LSP's rules (`caveat.server.documents`).

`receive` takes one message body from the transport: JSON that does not parse, nests too deeply
or is not a JSON-RPC object is answered with an error (id null when the id cannot be known)
instead of an exception in the reader loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol

from caveat.server.documents import LspWorkspace

logger = logging.getLogger(__name__)

#: Deepest JSON nesting a message may have (LSP messages nest a dozen levels at most).
MAX_JSON_DEPTH = 128
#: Seconds the client has to answer a request of the server (configuration, progress tokens).
CLIENT_TIMEOUT = 5.0


@dataclass(frozen=True)
class MalformedRequest:
    """A request whose params could not be structured into the method's type."""

    id: int | str
    method: str
    reason: str
    jsonrpc: str = "2.0"


def json_depth(value: Any, limit: int) -> int:
    """How deep `value` nests (containers count one level each), counting at most to `limit`+1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _request_id(data: dict[str, Any]) -> int | str | None:
    """The id of a raw message if it is a valid JSON-RPC id, else None."""
    rid = data.get("id")
    return rid if isinstance(rid, (int, str)) and not isinstance(rid, bool) else None


class RequestTable(dict[Any, "Future[Any]"]):
    """pygls' table of in-flight requests, whose `items()` is a snapshot.

    `shutdown` cancels every in-flight request while iterating the table, and cancelling a
    thread or generator request runs its callbacks at once, which remove it from the table:
    "dictionary changed size during iteration" failed the `shutdown` request.
    """

    def items(self) -> list[tuple[Any, Future[Any]]]:  # type: ignore[override]
        """The entries as they are now."""
        return list(super().items())


class CaveatProtocol(LanguageServerProtocol):
    """LanguageServerProtocol that answers every request and keeps the LSP lifecycle."""

    def __init__(self, server: Any, converter: Any) -> None:
        """The protocol of a server that has not been initialized yet."""
        super().__init__(server, converter)
        self._request_futures = RequestTable()
        self.initialize_received = False
        self.initialized_received = False
        #: The process exit code the `exit` notification asked for (None: no `exit` yet).
        self.exit_code: int | None = None

    # --- bodies from the transport -------------------------------------------------------------

    def send_error(self, msg_id: int | str | None, error: JsonRpcException) -> None:
        """Answer `msg_id` (None: a message whose id could not be read) with an error."""
        body = {"code": error.code, "message": error.message}
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "error": body})

    def receive(self, body: bytes) -> None:
        """Decode one message body and handle it; answer what cannot be decoded."""
        try:
            data = json.loads(body)
        except RecursionError:
            self.send_error(None, JsonRpcParseError(f"JSON nested deeper than {MAX_JSON_DEPTH}"))
            return
        except ValueError as exc:
            self.send_error(None, JsonRpcParseError(f"parse error: {str(exc)[:200]}"))
            return
        if not isinstance(data, dict) or data.get("jsonrpc") != self.VERSION:
            rid = _request_id(data) if isinstance(data, dict) else None
            self.send_error(rid, JsonRpcInvalidRequest("expected a JSON-RPC 2.0 message object"))
            return
        if "method" in data and "id" in data and _request_id(data) is None:
            self.send_error(
                None, JsonRpcInvalidRequest("a request id must be an integer or string")
            )
            return
        brackets = body.count(b"[") + body.count(b"{")
        if brackets > MAX_JSON_DEPTH and json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            error = JsonRpcInvalidRequest(f"message nested deeper than {MAX_JSON_DEPTH}")
            self.send_error(_request_id(data), error)
            return
        method = data.get("method")
        if isinstance(method, str) and self._refused(method, data.get("id"), "id" in data):
            return  # before structuring: a refused message is not worth a parse error
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            # A notification or response that does not structure: nothing to answer.
            logger.warning("dropped a malformed message: %s", exc.__cause__ or exc)
            return
        self.handle_message(message)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Structure as pygls does; a request that fails becomes a MalformedRequest."""
        if "method" in data and "params" not in data:
            # JSON-RPC makes params optional; pygls' fallback types require the key.
            data = {**data, "params": None}
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            request_id = _request_id(data)
            method = data.get("method")
            if request_id is not None and isinstance(method, str):
                cause = exc.__cause__ or exc
                return MalformedRequest(request_id, method, str(cause).splitlines()[0])
            raise

    # --- lifecycle -----------------------------------------------------------------------------

    def _lifecycle_error(self, method: str, is_request: bool) -> JsonRpcException | None:
        """Why a message is refused in the current lifecycle state (None: handle it).

        A notification that must be dropped gets a reason too; only requests are answered.
        """
        if method == types.EXIT:
            return None
        if self._shutdown:
            return JsonRpcInvalidRequest(f"the server is shutting down: {method} refused")
        if not self.initialize_received:
            if method == types.INITIALIZE:
                return None
            return JsonRpcServerNotInitialized(f"the server is not initialized: {method} refused")
        if method == types.INITIALIZE:
            return JsonRpcInvalidRequest("the server is already initialized")
        if method == types.INITIALIZED and self.initialized_received and not is_request:
            return JsonRpcInvalidRequest("initialized was already received")
        return None

    def _refused(self, method: str, msg_id: Any, is_request: bool) -> bool:
        """Answer (a request) or drop (a notification) what the lifecycle refuses now."""
        error = self._lifecycle_error(method, is_request)
        if error is None:
            return False
        if is_request:
            logger.warning("%s (id %s)", error.message, msg_id)
            self.send_error(msg_id, error)
        else:
            logger.info("dropped notification %s: %s", method, error.message)
        return True

    def handle_message(self, message: Any) -> None:
        """Keep the lifecycle, answer malformed requests, hand everything else to pygls."""
        method = getattr(message, "method", None)
        if isinstance(method, str):
            is_request = hasattr(message, "id")
            if self._refused(method, getattr(message, "id", None), is_request):
                return
            if method == types.EXIT:
                self.exit_code = 0 if self._shutdown else 1
            elif method == types.INITIALIZE and not isinstance(message, MalformedRequest):
                self.initialize_received = True
            elif method == types.INITIALIZED and not is_request:
                self.initialized_received = True
        if isinstance(message, MalformedRequest):
            if not self._has_handler(message.method):
                not_found = JsonRpcMethodNotFound.of(message.method)
                self._send_response(message.id, error=not_found.to_response_error())
                return
            logger.warning("invalid params for %s: %s", message.method, message.reason)
            error = JsonRpcInvalidParams(f"invalid params for {message.method}: {message.reason}")
            self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)
        workspace = self._workspace
        if workspace is not None and not isinstance(workspace, LspWorkspace):
            # pygls made it while handling initialize, just now: no document is open yet.
            self._workspace = LspWorkspace.like(workspace)

    def _has_handler(self, method: str) -> bool:
        """Whether a request or notification `method` has a handler."""
        return method in self.fm.builtin_features or method in self.fm.features

    # --- requests to the client ----------------------------------------------------------------

    def send_request(
        self,
        method: str,
        params: Any | None = None,
        callback: Any = None,
        msg_id: Any = None,
    ) -> Future[Any]:
        """Send a request to the client; without an answer in CLIENT_TIMEOUT s it fails.

        A client that never answers `workspace/configuration` used to keep the model from ever
        loading; now the caller's fallback runs instead, and the log says why.
        """
        msg_id = msg_id if msg_id is not None else str(uuid.uuid4())
        future = super().send_request(method, params, callback, msg_id)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return future
        loop.call_later(CLIENT_TIMEOUT, self._expire, msg_id, method, future)
        return future

    def _expire(self, msg_id: Any, method: str, future: Future[Any]) -> None:
        """Fail a request the client has not answered (a late answer is then ignored)."""
        if future.done():
            return
        self._request_futures.pop(msg_id, None)
        self._result_types.pop(msg_id, None)
        logger.warning(
            "the client did not answer %s in %.0f s; going on without", method, CLIENT_TIMEOUT
        )
        future.set_exception(TimeoutError(f"no answer to {method} in {CLIENT_TIMEOUT:.0f} s"))

    # --- cancellation --------------------------------------------------------------------------

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Run a handler as pygls does; link a step of a builtin handler to its request.

        pygls runs builtin features (executeCommand, initialize ...) as generators whose steps
        are futures of their own: `$/cancelRequest` cancelled the request's future but the
        step (a running scan) went on. Here cancelling the request cancels the running step,
        and a finished step leaves pygls' table of in-flight requests.
        """
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        if not isinstance(callback, partial) or "result_future" not in callback.keywords:
            return
        parent: Future[Any] = callback.keywords["result_future"]
        step = self._request_futures.get(msg_id)
        if step is None:
            return
        step.add_done_callback(lambda _: self._request_futures.pop(msg_id, None))
        parent.add_done_callback(lambda done: step.cancel() if done.cancelled() else None)
