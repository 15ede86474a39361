"""Forward caveat's log records to the client (`window/logMessage`).

Only records from the `caveat` logger tree travel: pygls logs every message it sends, and
forwarding those would echo forever.
"""

from __future__ import annotations

import logging

from lsprotocol import types

from caveat.server.server import CaveatServer

_LEVELS = (
    (logging.ERROR, types.MessageType.Error),
    (logging.WARNING, types.MessageType.Warning),
    (logging.INFO, types.MessageType.Info),
    (logging.DEBUG, types.MessageType.Log),
)


class ClientLogHandler(logging.Handler):
    """A logging handler that sends records as `window/logMessage`, from any thread."""

    def __init__(self, server: CaveatServer, level: int = logging.INFO) -> None:
        """Forward records at `level` or above to the server's client."""
        super().__init__(level)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record for the event loop (the transport is not thread-safe)."""
        if self.server.loop is None:
            return
        kind = next(t for lvl, t in _LEVELS if record.levelno >= lvl or lvl == logging.DEBUG)
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        params = types.LogMessageParams(type=kind, message=message)
        self.server.call_soon(self.server.window_log_message, params)


def register(server: CaveatServer) -> None:
    """Attach the client log handler to the `caveat` logger."""
    handler = ClientLogHandler(server)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("caveat").addHandler(handler)
