"""Text edge cases through the real server and model: every completion answers, sanely.

Surrogate pairs and combining marks (UTF-16 columns), CRLF and tabs, an empty document, the
cursor at the very start and end, binary junk, a 100,000-character line and a 10 MB document
(the prompt is budgeted to the context window, so it still answers).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from caveat.bench.fuzz import RawServer

SETTINGS = {
    "model": {"threads": 1, "contextLength": 2048},
    "completion": {"maxTokens": 6, "debounceMs": 0},
}


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    """One real server for the module."""
    srv = RawServer(SETTINGS)
    assert srv.start()["state"] == "ready"
    yield srv
    assert srv.close() == 0, srv.stderr_text()[-3000:]


def _open(srv: RawServer, name: str, text: str) -> str:
    uri = f"file:///caveat-edges/{name}.py"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    srv.send("textDocument/didOpen", {"textDocument": item}, request=False)
    return uri


def _complete(srv: RawServer, uri: str, line: int, character: int) -> dict[str, Any]:
    """caveat/complete; asserts a result (not an error) and returns it."""
    position = {"line": line, "character": character}
    reply = srv.call("caveat/complete", {"textDocument": {"uri": uri}, "position": position}, 300)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    assert result["position"] == position
    assert isinstance(result["text"], str)
    result["text"].encode("utf-8")  # no lone surrogates in what the editor would insert
    return result


def _hover(srv: RawServer, uri: str, line: int, character: int) -> dict[str, Any]:
    position = {"line": line, "character": character}
    reply = srv.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
    assert "result" in reply, reply
    return reply


def test_surrogate_pairs_and_combining_marks(server: RawServer) -> None:
    """Columns count UTF-16 units: after "😀" is column 2 more; inside the pair still answers."""
    text = 'greeting = "😀 cafe\u0301 "\nname = "😀😀"\nprint(greeting'
    uri = _open(server, "unicode", text)
    line0 = text.split("\n")[0]
    end0 = len(line0.encode("utf-16-le")) // 2
    _complete(server, uri, 0, end0)
    _complete(server, uri, 1, 9)  # between the two emoji
    _complete(server, uri, 1, 10)  # inside the second surrogate pair
    _complete(server, uri, 2, len("print(greeting"))
    _hover(server, uri, 0, 13)


def test_crlf_and_tabs(server: RawServer) -> None:
    """CRLF line ends and tab indentation: completions at line ends and inside indentation."""
    text = "def f(a):\r\n\tif a:\r\n\t\treturn a\r\n\treturn "
    uri = _open(server, "crlf", text)
    _complete(server, uri, 3, 8)
    _complete(server, uri, 1, 1)
    _complete(server, uri, 0, 9)
    _complete(server, uri, 2, 100)  # past the end of a CRLF line: clamped


def test_empty_document_and_cursor_at_start_and_end(server: RawServer) -> None:
    """An empty document, then the very first and the very last position of a small one."""
    _complete(server, _open(server, "empty", ""), 0, 0)
    text = "import os\n\nprint(os.getcwd())\n"
    uri = _open(server, "ends", text)
    _complete(server, uri, 0, 0)
    _complete(server, uri, 3, 0)


def test_binary_junk(server: RawServer) -> None:
    """NULs, escapes, a lone surrogate and replacement characters in the document."""
    text = "data = b'\x00\x01\x1b[31m\x7f'\nx = '\ud800\ufffd'\n\x00\x00 = "
    uri = _open(server, "junk", text)
    _complete(server, uri, 2, 5)
    _complete(server, uri, 1, 6)
    _hover(server, uri, 0, 9)


def test_a_line_of_100000_characters(server: RawServer) -> None:
    """One very long line: completing at its end and in its middle both answer."""
    text = "values = [" + ", ".join(["1"] * 33_340) + "\n"
    assert len(text) > 100_000
    uri = _open(server, "longline", text)
    _complete(server, uri, 0, len(text) - 1)
    _complete(server, uri, 0, 50_000)


def test_a_10_mb_document_still_completes(server: RawServer) -> None:
    """10 MB of code: the prompt is budgeted to the context, so a completion still answers."""
    block = "def f{n}(x):\n    return x * {n} + 1\n\n\n"
    text = "".join(block.format(n=n) for n in range(260_000))
    assert len(text) >= 10_000_000
    uri = _open(server, "huge", text + "def g(x):\n    return ")
    t0 = time.monotonic()
    lines = text.count("\n")
    result = _complete(server, uri, lines + 1, len("    return "))
    assert time.monotonic() - t0 < 240
    assert result["stopReason"] != "cancelled", result
    _hover(server, uri, lines // 2, 4)
    server.send(
        "textDocument/didClose", {"textDocument": {"uri": uri}}, request=False
    )  # free 10 MB
