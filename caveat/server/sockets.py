"""Serving one client over TCP or WebSocket, and only one that holds the token.

pygls' `start_tcp`/`start_ws` hand the protocol's writer to every new connection (a second
client then received the first one's completions), send to a client before it says anything,
and end the server when any connection closes. Here:

- a connection is served only after it presents the token (`caveat.server.auth`): over TCP in
  `initializationOptions.token` of its first message, `initialize`; over WebSocket in the
  handshake (`Authorization: Bearer` or `?token=`), from a local `Host`/`Origin` only. Until
  then the server sends it nothing, and a wrong or missing token closes it;
- one client per process: another one that authenticates is refused with a message, the first
  is undisturbed;
- a connection that ends before `initialize` leaves the server listening; the end of the
  session that did initialize ends the server, as the end of stdin does over stdio;
- reasons a model failed to load (which name files, and so tell whether one exists) stay in the
  server's log: the client gets one message for them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidRequest

from caveat.server.auth import local_host, local_origin, presented_token, token_matches
from caveat.server.transport import MAX_HEADER_LINE, StreamFrames, read_frames

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from caveat.server.server import CaveatServer
    from caveat.server.worker import ModelState

logger = logging.getLogger(__name__)

#: Seconds a new TCP connection has to send its token (in `initialize`).
AUTH_TIMEOUT = 10.0
#: Largest first message read from a connection that has not authenticated yet.
PRE_AUTH_BYTES = 1024 * 1024
#: Connections waiting to authenticate at once; more are closed at once.
MAX_PENDING = 16
#: What a second client is told.
BUSY = (
    "caveat: another client is already connected to this server (one client per"
    " `caveat serve --tcp/--ws`); start another server for this client"
)
#: What a socket client is told when the model fails to load; the reason goes to the log.
MODEL_ERROR = (
    "the model could not be loaded; the reason is in the server's log (caveat serve --log-file)"
)
#: Loggers whose records may name model files: kept from a socket client's window/logMessage.
PRIVATE_LOGGERS = ("caveat.server.worker", "caveat.engine")


class _TooLarge(Exception):
    """A first message above PRE_AUTH_BYTES."""


def _frame(message: dict[str, Any]) -> bytes:
    """One LSP frame."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def first_frame(frames: StreamFrames, limit: int) -> bytes | None:
    """The first message body of a connection (None: it ended, or sent more than `limit`)."""
    got: list[bytes] = []
    stop = threading.Event()

    def take(body: bytes) -> None:
        got.append(body)
        stop.set()

    def refuse(_: JsonRpcInvalidRequest) -> None:
        raise _TooLarge()

    try:
        await read_frames(frames, take, refuse, stop, limit)
    except _TooLarge:
        return None
    return got[0] if got else None


def authenticate(body: bytes | None, token: str) -> dict[str, Any] | None:
    """The `initialize` request in `body` without its token, if it carries the right one."""
    if body is None:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("method") != "initialize" or "id" not in data:
        return None
    params = data.get("params")
    if not isinstance(params, dict):
        return None
    options = params.get("initializationOptions")
    if not isinstance(options, dict) or not token_matches(token, options.get("token")):
        return None
    rest = {key: value for key, value in options.items() if key != "token"}
    return {**data, "params": {**params, "initializationOptions": rest}}


def hide_model_errors(server: CaveatServer) -> None:
    """Tell a socket client only that the model failed to load; keep the reason in the log.

    A client that could read the loader's reasons could tell a missing file from one that is
    not a model: the state's message becomes one text, and records of the loggers that name
    files no longer reach the client's log (they still reach stderr and `--log-file`).
    """
    from caveat.server.features.logs import ClientLogHandler

    worker = server.worker
    announce = worker._on_state

    def on_state(state: ModelState, error: str | None) -> None:
        if state == "error" and error is not None:
            worker.error = error = MODEL_ERROR  # requests answer with worker.error, too
        if announce is not None:
            announce(state, error)

    worker._on_state = on_state

    def public(record: logging.LogRecord) -> bool:
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in PRIVATE_LOGGERS
        )

    for handler in logging.getLogger("caveat").handlers:
        if isinstance(handler, ClientLogHandler):
            handler.addFilter(public)


class SocketServer:
    """One `caveat serve --tcp/--ws` listener and the one client it serves."""

    def __init__(self, server: CaveatServer, token: str, max_bytes: int) -> None:
        """Serve `server` to the holder of `token`; messages up to `max_bytes`."""
        self.server = server
        self.token = token
        self.max_bytes = max_bytes
        self.active = False
        self.pending = 0
        self.stop = threading.Event()
        self.done: asyncio.Future[None] | None = None

    def run(self, start: Any, announce: Any) -> None:
        """Run the event loop: `start()` opens the listener, `announce(listener)` says where.

        `announce` runs once the listener is bound (so `--port 0` knows its port), before the
        first connection is served.

        Returns when the initialized client leaves, or on `exit` (SystemExit, as over stdio).
        """

        async def main() -> None:
            self.done = asyncio.get_running_loop().create_future()
            listener = await start()
            announce(listener)
            try:
                await self.done
            finally:
                listener.close()

        try:
            asyncio.run(main())
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.server.shutdown()  # type: ignore[no-untyped-call]

    def _leave(self) -> None:
        """The client left: the server ends if it had initialized, else it waits for another."""
        self.active = False
        if self.server.protocol.initialize_received:
            logger.info("the client disconnected; shutting down")
            self.stop.set()
            if self.done is not None and not self.done.done():
                self.done.set_result(None)
        else:
            logger.info("a client left before initialize; waiting for another")

    # --- TCP -----------------------------------------------------------------------------------

    async def tcp_listen(self, host: str, port: int) -> asyncio.Server:
        """Listen on host:port."""
        return await asyncio.start_server(self.tcp_connection, host, port, limit=MAX_HEADER_LINE)

    async def tcp_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one TCP connection: token first, then the LSP session."""
        peer = writer.get_extra_info("peername")
        try:
            await self._tcp_session(reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            logger.info("connection from %s: %s", peer, exc)
        finally:
            writer.close()

    async def _tcp_session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Any
    ) -> None:
        if self.pending >= MAX_PENDING:
            logger.warning("refused a connection from %s: too many waiting to authenticate", peer)
            return
        self.pending += 1
        frames = StreamFrames(reader)
        try:
            body = await asyncio.wait_for(first_frame(frames, PRE_AUTH_BYTES), AUTH_TIMEOUT)
        except asyncio.TimeoutError:
            body = None
        finally:
            self.pending -= 1
        request = authenticate(body, self.token)
        if request is None:
            logger.warning(
                "refused a connection from %s: its first message was not an initialize request"
                " with the token (initializationOptions.token)",
                peer,
            )
            return
        if self.active:
            logger.warning("refused a second client from %s: one client per server", peer)
            error = {"code": -32803, "message": BUSY}
            writer.write(_frame({"jsonrpc": "2.0", "id": request["id"], "error": error}))
            await writer.drain()
            return
        self.active = True
        logger.info("client connected from %s", peer)
        protocol = self.server.protocol
        protocol.set_writer(writer)
        try:
            protocol.receive(json.dumps(request).encode())
            reject = partial(protocol.send_error, None)
            await read_frames(frames, protocol.receive, reject, self.stop, self.max_bytes)
        finally:
            self._leave()

    # --- WebSocket -----------------------------------------------------------------------------

    async def ws_listen(self, host: str, port: int) -> Any:
        """Listen for WebSocket handshakes on host:port."""
        from websockets.asyncio.server import serve

        return await serve(
            self.ws_connection,
            host,
            port,
            process_request=self.ws_check,
            max_size=self.max_bytes,
            server_header=None,
        )

    def ws_check(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse a handshake from a non-local page, without the token, or while busy."""
        headers = request.headers
        hosts, origins = headers.get_all("Host"), headers.get_all("Origin")
        host = hosts[0] if len(hosts) == 1 else None
        origin = origins[0] if len(origins) == 1 else None
        if len(hosts) > 1 or len(origins) > 1 or not (local_host(host) and local_origin(origin)):
            logger.warning(
                "refused a WebSocket handshake from a page that is not local (Host %.100r,"
                " Origin %.100r)",
                host,
                origin,
            )
            return connection.respond(
                HTTPStatus.FORBIDDEN, "caveat: only local pages may connect\n"
            )
        authorizations = headers.get_all("Authorization")
        authorization = authorizations[0] if len(authorizations) == 1 else None
        if not token_matches(self.token, presented_token(authorization, request.path)):
            logger.warning("refused a WebSocket handshake without the token")
            return connection.respond(
                HTTPStatus.UNAUTHORIZED,
                "caveat: a token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)\n",
            )
        if self.active:
            logger.warning("refused a second WebSocket client: one client per server")
            return connection.respond(HTTPStatus.CONFLICT, BUSY + "\n")
        return None

    async def ws_connection(self, websocket: ServerConnection) -> None:
        """Serve one authenticated WebSocket connection."""
        from pygls.io_ import WebSocketWriter
        from websockets.exceptions import ConnectionClosed

        if self.active:  # two handshakes passed ws_check at once
            await websocket.close(1013, "caveat: another client is connected")
            return
        self.active = True
        logger.info("client connected over WebSocket")
        protocol = self.server.protocol
        protocol.set_writer(WebSocketWriter(websocket), include_headers=False)
        try:
            async for message in websocket:
                protocol.receive(message.encode() if isinstance(message, str) else message)
                if self.stop.is_set():
                    break
        except ConnectionClosed:
            pass
        finally:
            self._leave()


def addresses(listener: Any) -> list[tuple[str, int]]:
    """The (host, port) pairs a listener is bound to."""
    return [(sock.getsockname()[0], sock.getsockname()[1]) for sock in listener.sockets]
