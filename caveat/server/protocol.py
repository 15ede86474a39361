"""The JSON-RPC protocol, made to answer requests whose params do not parse.

pygls structures incoming messages while decoding JSON; when a known method's params are
malformed it logs the failure and drops the message, so the client waits forever. Here such a
request becomes a placeholder that is answered with InvalidParams (-32602).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MalformedRequest:
    """A request whose params could not be structured into the method's type."""

    id: int | str
    method: str
    reason: str
    jsonrpc: str = "2.0"


class CaveatProtocol(LanguageServerProtocol):
    """LanguageServerProtocol that answers malformed requests instead of dropping them."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Structure as pygls does; a request that fails becomes a MalformedRequest."""
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            request_id = data.get("id")
            method = data.get("method")
            if isinstance(request_id, (int, str)) and isinstance(method, str):
                cause = exc.__cause__ or exc
                return MalformedRequest(request_id, method, str(cause).splitlines()[0])
            raise

    def handle_message(self, message: Any) -> None:
        """Answer a malformed request with InvalidParams; hand everything else to pygls."""
        if isinstance(message, MalformedRequest):
            logger.warning("invalid params for %s: %s", message.method, message.reason)
            error = JsonRpcInvalidParams(f"invalid params for {message.method}: {message.reason}")
            self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)
