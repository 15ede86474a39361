"""`caveat serve --ws`: local pages only, the token in the handshake, one client (issue #22 1-2).

Refused handshakes are written by hand on a plain socket, so that `Host` and `Origin` are exactly
what a rebinding web page would send; accepted sessions use the websockets client.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sockets import MISSING, WAIT, Served, start_server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

CLEAR = {"command": "caveat.clear", "arguments": []}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A WebSocket server; killed at the end if still running."""
    srv = start_server(tmp_path, "ws")
    yield srv
    if srv.proc.poll() is None:
        srv.proc.kill()
    srv.proc.wait(timeout=WAIT)


def handshake(port: int, headers: dict[str, str], path: str = "/") -> tuple[int, bytes]:
    """Send an opening handshake with exactly `headers`; the status and all that came back."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if data.startswith(b"HTTP/1.1 101"):
                break
    return int(data.split()[1]), data


def session(port: int, **kwargs: Any) -> ClientConnection:
    """An accepted WebSocket connection to the server."""
    return connect(f"ws://127.0.0.1:{port}/", open_timeout=WAIT, **kwargs)


def call(ws: ClientConnection, rid: int, method: str, params: Any) -> dict[str, Any]:
    """Send a request; answer server requests; return the response to `rid`."""
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
    while True:
        message = json.loads(ws.recv(timeout=WAIT))
        if message.get("id") == rid and "method" not in message:
            return dict(message)
        if "method" in message and "id" in message:
            result = [MISSING] if message["method"] == "workspace/configuration" else None
            ws.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}))


def initialize(ws: ClientConnection) -> dict[str, Any]:
    """initialize + initialized; the initialize response."""
    params = {"processId": None, "rootUri": None, "capabilities": {}}
    reply = call(ws, 1, "initialize", {**params, "initializationOptions": MISSING})
    ws.send(json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    return reply


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Origin": "https://evil.example"}, 403, id="foreign-origin"),
        pytest.param({"Origin": "null"}, 403, id="null-origin"),
        pytest.param({"Host": "rebind.evil.example:PORT"}, 403, id="rebinding-host"),
        pytest.param({"Host": "localhost.evil.example"}, 403, id="lookalike-host"),
        pytest.param({"Host": "127.0.0.1:PORT", "Authorization": "Bearer wrong"}, 401, id="wrong"),
        pytest.param({"Host": "127.0.0.1:PORT"}, 401, id="no-token"),
    ],
)
def test_refused_handshakes_get_no_session(
    served: Served, headers: dict[str, str], status: int
) -> None:
    """Foreign Origin or Host: 403 (even with the token); no or a wrong token: 401."""
    port = str(served.port)
    sent = {name: value.replace("PORT", port) for name, value in headers.items()}
    if status == 403:
        sent["Authorization"] = f"Bearer {served.token}"
    sent.setdefault("Host", f"127.0.0.1:{port}")
    got, data = handshake(served.port, sent)
    assert got == status, data
    assert b"capabilities" not in data and b"jsonrpc" not in data
    assert served.proc.poll() is None


def test_token_in_header_or_query_is_served(served: Served) -> None:
    """Bearer header, or ?token= for clients that cannot set headers; a local Origin passes."""
    assert (
        handshake(
            served.port,
            {"Host": "localhost", "Origin": "http://localhost:3000"},
            "/?token=" + served.token,
        )[0]
        == 101
    )
    time.sleep(0.3)  # the raw socket above closed before initialize: the server goes on
    with session(
        served.port,
        additional_headers={"Authorization": f"Bearer {served.token}"},
        origin="http://127.0.0.1:8000",  # type: ignore[arg-type]
    ) as ws:
        assert "capabilities" in initialize(ws)["result"]
        assert call(ws, 2, "workspace/executeCommand", CLEAR).get("error") is None


def test_second_client_is_refused_and_the_first_goes_on(served: Served) -> None:
    """A second handshake with the token gets 409; the first session keeps working."""
    bearer = {"Authorization": f"Bearer {served.token}"}
    with session(served.port, additional_headers=bearer) as first:
        initialize(first)
        with pytest.raises(InvalidStatus) as refused:
            session(served.port, additional_headers=bearer)
        assert refused.value.response.status_code == 409
        assert b"another client" in refused.value.response.body
        assert call(first, 2, "workspace/executeCommand", CLEAR).get("error") is None
    assert served.proc.wait(timeout=WAIT) == 0  # the session that initialized ended


def test_ws_without_websockets_exits_2(tmp_path: Path) -> None:
    """No websockets package: one clear line and exit code 2 (fault injected: import blocked)."""
    code = (
        "import sys; sys.modules['websockets'] = None; from caveat.cli import main;"
        " sys.exit(main(['serve', '--ws', '--port', '0']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=WAIT, text=True, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'caveat[ws]'" in done.stderr
    assert "Traceback" not in done.stderr
