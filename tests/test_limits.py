"""Bounded input (issue #22, item 3 and Limits): a header cannot make the server allocate.

Each test drives a real `caveat serve` over stdio with a raw client; the model path names a
missing file, so nothing loads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest

from caveat.bench.fuzz import RawServer, encode
from caveat.commands import serve
from caveat.server import transport

MISSING = {"model": {"path": "/nonexistent/caveat-limits.gguf", "threads": 1}}
HOVER = {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0}}
WAIT = 60.0
LIMIT = 100_000


@pytest.fixture
def raw() -> Iterator[RawServer]:
    """An initialized server whose message limit is LIMIT bytes."""
    argv = [sys.executable, "-m", "caveat", "serve", "--max-message-size", str(LIMIT)]
    srv = RawServer(MISSING, argv=argv)
    srv.start(timeout=WAIT)
    yield srv
    if srv.alive:
        srv.proc.kill()
    srv.close()


def test_a_huge_content_length_is_answered_not_allocated() -> None:
    """Content-Length: 99999999999 (no body follows): an error answer, no MemoryError."""
    srv = RawServer(MISSING)
    srv.start(timeout=WAIT)
    srv.write(b"Content-Length: 99999999999\r\n\r\n")
    srv.wait(["never"], 5)  # let the server read it
    assert srv.alive, srv.stderr_text()[-2000:]
    assert [m["error"]["code"] for m in srv.null_errors] == [-32600]
    assert "99999999999" in srv.null_errors[0]["error"]["message"]
    srv.disconnect()  # the client goes away: a clean end, not a crash
    assert srv.proc.wait(timeout=WAIT) == 0
    assert "MemoryError" not in srv.stderr_text() and "Traceback" not in srv.stderr_text()
    srv.close()


def test_an_oversized_message_is_skipped_and_the_stream_stays_in_step(raw: RawServer) -> None:
    """A real message above the limit is answered and skipped; the next one is served."""
    item = {"uri": "file:///big.py", "languageId": "python", "version": 1, "text": "x" * LIMIT}
    raw.send("textDocument/didOpen", {"textDocument": item}, request=False)
    too_big = raw.send("textDocument/hover", {**HOVER, "junk": "y" * LIMIT})
    reply = raw.call("textDocument/hover", HOVER, WAIT)
    assert reply["error"]["code"] == -32602  # served: the document is simply not open
    assert [m["error"]["code"] for m in raw.null_errors] == [-32600, -32600]
    assert not raw.wait([too_big], 1)  # its id could not be read: the answer carries null
    assert raw.close() == 0


def test_endless_header_lines_are_read_in_pieces(raw: RawServer) -> None:
    """A 5 MB header line and a bogus length are ignored; the stream recovers."""
    raw.write(b"X-Junk: " + b"h" * 5_000_000 + b"\r\n\r\n")
    raw.write(b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n")
    raw.write(b"Content-Length: -5\r\n\r\n")
    assert raw.call("textDocument/hover", HOVER, WAIT)["error"]["code"] == -32602
    assert raw.alive
    assert raw.close() == 0


def test_a_message_at_the_limit_is_accepted(raw: RawServer) -> None:
    """The limit is inclusive: a body of exactly LIMIT bytes is read and handled."""
    head = {"jsonrpc": "2.0", "id": "at-limit", "method": "textDocument/hover"}
    params = {**HOVER, "junk": ""}
    size = len(json.dumps({**head, "params": params}).encode())
    params["junk"] = "z" * (LIMIT - size)
    data = encode({**head, "params": params})
    assert data.endswith(b"}") and len(data) - data.index(b"\r\n\r\n") - 4 == LIMIT
    raw.write(data)
    got = raw.wait(["at-limit"], WAIT)
    assert got['"at-limit"']["error"]["code"] == -32602
    assert raw.null_errors == []


def test_the_cli_default_is_the_transport_limit() -> None:
    """`serve --max-message-size` defaults to the reader's limit (64 MiB)."""
    assert serve.MAX_MESSAGE_BYTES == transport.MAX_MESSAGE_BYTES == 64 * 1024 * 1024
