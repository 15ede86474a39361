"""The LSP lifecycle, exactly as the specification says (issue #22, item 9).

Each test drives a real `caveat serve` over stdio with a raw client. None needs the model: the
model path names a missing file, so `initialized` fails its load at once (and says so).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from caveat.bench.fuzz import RawServer, frame

MISSING = {"model": {"path": "/nonexistent/caveat-lifecycle.gguf", "threads": 1}}
HOVER = {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0}}
WAIT = 60.0


@pytest.fixture
def raw() -> Iterator[RawServer]:
    """A server process, not yet initialized; killed at the end if still running."""
    srv = RawServer(MISSING)
    yield srv
    if srv.alive:
        srv.proc.kill()
    srv.close()


def _code(reply: dict[str, object]) -> object:
    error = reply.get("error")
    return error.get("code") if isinstance(error, dict) else None


def test_requests_before_initialize_are_not_initialized(raw: RawServer) -> None:
    """-32002 without a traceback; caveat.clear does not run; notifications are dropped."""
    assert _code(raw.call("textDocument/hover", HOVER, WAIT)) == -32002
    clear = {"command": "caveat.clear", "arguments": []}
    reply = raw.call("workspace/executeCommand", clear, WAIT)
    assert _code(reply) == -32002 and "result" not in reply
    raw.send("textDocument/didOpen", {"textDocument": {"uri": 1}}, request=False)
    assert raw.start(timeout=WAIT)["state"] == "error"  # initialize still works afterwards
    assert "Traceback" not in raw.stderr_text()
    assert raw.close() == 0


def test_second_initialize_is_refused_and_second_initialized_ignored(raw: RawServer) -> None:
    """initialize twice: InvalidRequest; initialized twice: the model is loaded once."""
    raw.start(timeout=WAIT)
    again = {"processId": None, "rootUri": None, "capabilities": {}}
    assert _code(raw.call("initialize", again, WAIT)) == -32600
    raw.send("initialized", {}, request=False)
    assert _code(raw.call("textDocument/hover", HOVER, WAIT)) == -32602  # a round trip
    loads = [s for s in raw.statuses if s.get("state") == "loading"]
    assert len(loads) == 1, raw.statuses
    assert raw.close() == 0


def test_requests_after_shutdown_are_invalid_and_exit_is_zero(raw: RawServer) -> None:
    """After shutdown every request is answered InvalidRequest; exit then ends with 0."""
    raw.start(timeout=WAIT)
    assert raw.call("shutdown", None, WAIT).get("result", "missing") is None
    assert _code(raw.call("textDocument/hover", HOVER, WAIT)) == -32600
    assert _code(raw.call("shutdown", None, WAIT)) == -32600
    raw.send("exit", None, request=False)
    assert raw.proc.wait(timeout=WAIT) == 0


def test_exit_without_shutdown_is_one(raw: RawServer) -> None:
    """exit without shutdown ends the process with 1, initialized or not."""
    raw.start(timeout=WAIT)
    raw.send("exit", None, request=False)
    assert raw.proc.wait(timeout=WAIT) == 1


def test_exit_before_initialize_is_one(raw: RawServer) -> None:
    """exit is the one message honoured before initialize."""
    raw.send("exit", None, request=False)
    assert raw.proc.wait(timeout=WAIT) == 1


def test_unknown_method_without_params_is_method_not_found(raw: RawServer) -> None:
    """No params at all (they are optional in JSON-RPC): -32601, not -32602."""
    raw.start(timeout=WAIT)
    raw.write(frame(b'{"jsonrpc": "2.0", "id": "u1", "method": "caveat/nothing"}'))
    raw.write(frame(b'{"jsonrpc": "2.0", "method": "caveat/nothingEither"}'))
    reply = raw.wait(["u1"], WAIT)
    assert _code(reply['"u1"']) == -32601
    assert _code(raw.call("caveat/nothing", {"x": 1}, WAIT)) == -32601
    assert raw.close() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, -32700),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "x", "params": ' + b"[" * 100_000, -32700),
        (b"{", -32700),
        (b"\xff\xfe", -32700),
        (b"[1, 2]", -32600),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "shutdown"}', -32600),
    ],
    ids=["nested-1e5", "nested-request", "truncated", "not-utf8", "batch", "float-id"],
)
def test_undecodable_bodies_get_an_error_answer(raw: RawServer, body: bytes, code: int) -> None:
    """A body that cannot be read as a request is answered (id null), not met with silence."""
    raw.start(timeout=WAIT)
    raw.write(frame(body))
    assert _code(raw.call("textDocument/hover", HOVER, WAIT)) == -32602  # still reading
    assert [_code(m) for m in raw.null_errors] == [code]
    assert raw.close() == 0


def test_request_nested_past_the_limit_is_answered_by_id(raw: RawServer) -> None:
    """JSON that parses but nests deeper than the protocol allows: InvalidRequest, same id."""
    raw.start(timeout=WAIT)
    deep = b"[" * 300 + b"]" * 300
    raw.write(
        frame(b'{"jsonrpc": "2.0", "id": "deep", "method": "caveat/x", "params": ' + deep + b"}")
    )
    reply = raw.wait(["deep"], WAIT)
    assert _code(reply['"deep"']) == -32600
    assert raw.close() == 0


def test_a_client_that_never_answers_configuration_does_not_hang_the_server() -> None:
    """No answer to workspace/configuration (nor progress create): initializationOptions hold.

    The model path of the initializationOptions is the one the load then fails on, so the
    fallback really happened, after a timeout the log names.
    """
    silent = frozenset({"workspace/configuration", "window/workDoneProgress/create"})
    srv = RawServer(MISSING, unanswered=silent)
    try:
        status = srv.start(timeout=WAIT)
        assert status["state"] == "error", status
        assert MISSING["model"]["path"] in status["message"]
        assert "using initializationOptions and defaults" in srv.stderr_text()
        assert srv.close() == 0
    finally:
        if srv.alive:
            srv.proc.kill()


def test_cancel_reaches_a_running_scan() -> None:
    """$/cancelRequest on caveat.scanDocument stops the scan itself (issue #22, item 4).

    pygls cancelled only the request's outer future: the answer said -32800 while the scan of
    a large file kept the model thread busy, so a completion elsewhere waited for minutes.
    """
    settings = {
        "model": {"threads": 1, "contextLength": 2048},
        "completion": {"maxTokens": 4, "debounceMs": 0},
    }
    srv = RawServer(settings)
    try:
        assert srv.start()["state"] == "ready", srv.statuses
        big = "".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n\n" for i in range(3000))
        docs = {"file:///big.py": big, "file:///small.py": "def add(a, b):\n    return "}
        for uri, text in docs.items():
            item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            srv.send("textDocument/didOpen", {"textDocument": item}, request=False)
        scan = {"command": "caveat.scanDocument", "arguments": ["file:///big.py"]}
        rid = srv.send("workspace/executeCommand", scan)
        time.sleep(3)  # the scan is running on the model thread
        srv.send("$/cancelRequest", {"id": rid}, request=False)
        assert _code(srv.wait([rid], WAIT)[str(rid)]) == -32800
        t0 = time.monotonic()
        position = {"line": 1, "character": 11}
        reply = srv.call(
            "caveat/complete", {"textDocument": {"uri": "file:///small.py"}, "position": position}
        )
        assert "result" in reply, reply
        assert time.monotonic() - t0 < 20  # not behind the rest of a 100 KB scan
        assert srv.close() == 0
    finally:
        if srv.alive:
            srv.proc.kill()
