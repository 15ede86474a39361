"""`caveat serve --tcp`: only the token holder is served, one client, and it alone ends the server.

Issue #22 item 1. Each test runs a real server on 127.0.0.1 with an ephemeral port and a private
runtime directory, and talks raw LSP frames to it. None needs the model: the model path names
a missing file, so its load fails at once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from caveat.server.sockets import BUSY, MODEL_ERROR

MISSING = {"model": {"path": "/nonexistent/caveat-sockets.gguf", "threads": 1}}
WAIT = 30.0
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+); token in (\S+)")


@dataclass
class Served:
    """A running `caveat serve --tcp|--ws` and where to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    token_file: Path
    log: Path

    @property
    def token(self) -> str:
        """The token the server wrote."""
        return self.token_file.read_text(encoding="ascii").strip()

    def log_text(self) -> str:
        """What the server logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(tmp: Path, kind: str = "tcp", *extra: str) -> Served:
    """Start `caveat serve --<kind> --port 0` with its runtime directory under `tmp`."""
    runtime = tmp / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = tmp / f"serve-{kind}.log"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    argv = [sys.executable, "-m", "caveat", "serve", f"--{kind}", "--port", "0", *extra]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
        )
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return Served(proc, int(found.group(1)), Path(found.group(2)), log)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the server did not listen: {log.read_text()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A TCP server; killed at the end if still running."""
    srv = start_server(tmp_path)
    yield srv
    if srv.proc.poll() is None:
        srv.proc.kill()
    srv.proc.wait(timeout=WAIT)


def frame(message: Any) -> bytes:
    """One LSP frame."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class Client:
    """A raw LSP client on a TCP connection."""

    def __init__(self, port: int) -> None:
        """Connect to 127.0.0.1:port."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""
        self.ids = iter(range(1, 10**6))

    def send(self, method: str, params: Any = None, *, request: bool = True) -> int | None:
        """Send a request (returns its id) or a notification."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        rid = next(self.ids) if request else None
        if request:
            message["id"] = rid
        self.sock.sendall(frame(message))
        return rid

    def receive(self) -> dict[str, Any] | None:
        """The next message, None at end of stream."""
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if sep:
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    message: dict[str, Any] = json.loads(rest[:length])
                    return message
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def answer(self, rid: int | None) -> dict[str, Any]:
        """The response to request `rid`; server requests are answered, notifications kept."""
        while (message := self.receive()) is not None:
            if message.get("id") == rid and "method" not in message:
                return message
            if "method" in message and "id" in message:  # configuration, progress tokens
                result = [MISSING] if message["method"] == "workspace/configuration" else None
                self.sock.sendall(frame({"jsonrpc": "2.0", "id": message["id"], "result": result}))
        raise AssertionError(f"the connection closed before the answer to {rid}")

    def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request and wait for its response."""
        return self.answer(self.send(method, params))

    def initialize(self, token: str | None, settings: Any = MISSING) -> int | None:
        """Send initialize with the token (if any) in initializationOptions; return its id."""
        options = dict(settings) if token is None else {**settings, "token": token}
        params = {"processId": None, "rootUri": None, "capabilities": {}}
        return self.send("initialize", {**params, "initializationOptions": options})

    def everything(self) -> bytes:
        """All bytes until the server closes the connection."""
        data = self.buffer
        while chunk := self.sock.recv(65536):
            data += chunk
        return data

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


CLEAR = {"command": "caveat.clear", "arguments": []}


def test_token_file_is_private_and_removed_at_exit(served: Served) -> None:
    """The token is in a 0600 file in a 0700 directory; the server's exit removes it."""
    assert stat.S_IMODE(served.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(served.token_file.parent.stat().st_mode) == 0o700
    assert len(served.token) >= 40
    assert served.token not in served.log_text()
    client = Client(served.port)
    client.initialize(served.token)
    client.call("shutdown")
    client.send("exit", request=False)
    assert served.proc.wait(timeout=WAIT) == 0
    assert not served.token_file.exists()


def test_print_token_prints_the_file_token(tmp_path: Path) -> None:
    """--print-token writes the token the file holds, one line on stdout."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    argv = [sys.executable, "-m", "caveat", "serve", "--tcp", "--port", "0", "--print-token"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        (token_file,) = (runtime / "caveat").glob("tcp-*.token")
        assert line == token_file.read_text().strip()
    finally:
        proc.kill()
        proc.wait(timeout=WAIT)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(None, id="no-token"),
        pytest.param("wrong", id="wrong-token"),
        pytest.param(b"\r\n\r\nnot json", id="junk"),
        pytest.param(("workspace/executeCommand", CLEAR), id="request-before-initialize"),
    ],
)
def test_without_the_token_nothing_is_received(served: Served, first: Any) -> None:
    """A client without the token gets no byte and is closed; the server goes on."""
    client = Client(served.port)
    if isinstance(first, bytes):
        client.sock.sendall(first)
    elif isinstance(first, tuple):
        client.send(*first)
    else:
        client.initialize(first)
    assert client.everything() == b""
    assert served.proc.poll() is None
    assert "refused a connection" in served.log_text()
    good = Client(served.port)
    good.initialize(served.token)
    assert "capabilities" in good.answer(1)["result"]


def test_right_token_is_served_and_the_token_is_not_a_setting(served: Served) -> None:
    """initialize with the token, then caveat.clear; no 'unknown setting' for the token."""
    client = Client(served.port)
    reply = client.answer(client.initialize(served.token))
    assert "capabilities" in reply["result"], reply
    client.send("initialized", {}, request=False)
    assert client.call("workspace/executeCommand", CLEAR).get("error") is None
    client.call("shutdown")
    client.send("exit", request=False)
    assert served.proc.wait(timeout=WAIT) == 0
    assert "unknown setting" not in served.log_text()


def test_second_client_is_refused_and_the_first_goes_on(served: Served) -> None:
    """A second client with the token is told why and closed; one without gets nothing."""
    first = Client(served.port)
    assert "result" in first.answer(first.initialize(served.token))
    first.send("initialized", {}, request=False)

    second = Client(served.port)
    rid = second.initialize(served.token)
    refusal = second.receive()
    assert refusal is not None and refusal["id"] == rid
    assert refusal["error"]["message"] == BUSY
    assert second.everything() == b""
    third = Client(served.port)
    third.initialize(None)
    assert third.everything() == b""

    assert first.call("workspace/executeCommand", CLEAR).get("error") is None
    assert served.proc.poll() is None


def test_disconnect_before_initialize_keeps_the_server(served: Served) -> None:
    """Connect-and-close, a wrong token, an initialize that fails: the server keeps listening."""
    Client(served.port).close()
    wrong = Client(served.port)
    wrong.initialize("wrong")
    wrong.close()
    failed = Client(served.port)
    bad = {"processId": "not a number", "capabilities": {}}
    rid = failed.send("initialize", {**bad, "initializationOptions": {"token": served.token}})
    assert failed.answer(rid)["error"]["code"] == -32602
    failed.close()
    time.sleep(0.3)
    assert served.proc.poll() is None
    client = Client(served.port)
    assert "result" in client.answer(client.initialize(served.token))


def test_the_initialized_client_leaving_ends_the_server(served: Served) -> None:
    """As over stdio: the end of the session that initialized ends the process (0)."""
    client = Client(served.port)
    client.answer(client.initialize(served.token))
    client.close()
    assert served.proc.wait(timeout=WAIT) == 0


def _model_errors(served: Served, path: str) -> list[str]:
    """Every text a socket client is shown when the model at `path` fails to load."""
    client = Client(served.port)
    settings = {"model": {"path": path, "threads": 1}}
    params = {"processId": None, "rootUri": None, "capabilities": {}}
    rid = client.send(
        "initialize", {**params, "initializationOptions": {**settings, "token": served.token}}
    )
    client.answer(rid)
    client.send("initialized", {}, request=False)
    texts = []
    while (message := client.receive()) is not None:
        params = message.get("params") or {}
        if message.get("method") in ("window/showMessage", "window/logMessage"):
            texts.append(params["message"])
        if message.get("method") == "caveat/status" and params.get("state") == "error":
            texts.append(params["message"])
            break
    client.close()
    return texts


def test_model_path_errors_do_not_tell_whether_a_file_exists(tmp_path: Path) -> None:
    """A missing file and a text file give the socket client the same words; the log has why."""
    text_file = tmp_path / "notes.gguf"
    text_file.write_text("not a model\n", encoding="utf-8")
    shown = []
    for path in ("/nonexistent/caveat-probe.gguf", str(text_file)):
        served = start_server(tmp_path / path.replace("/", "_"))
        try:
            shown.append(_model_errors(served, path))
            served.proc.wait(timeout=WAIT)
            assert "model failed to load" in served.log_text()
        finally:
            served.proc.kill()
    assert shown[0] == shown[1], shown
    assert any(MODEL_ERROR in text for text in shown[0]), shown
