"""Protocol fuzzing against the real server over stdio: it answers every request and stays up.

Hypothesis drives `caveat.bench.fuzz.Fuzzer` (the generator `caveat bench fuzz` runs 10,000
messages of): each example is a batch of malformed, mutated, unknown or well-formed messages
and raw framing faults written straight to the server's stdin. The server loads the real model,
so completion requests in the mix really decode.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caveat.bench.fuzz import (
    FUZZ_SETTINGS,
    NEVER_OPENED,
    Fuzzer,
    RawServer,
    encode,
    frame,
    open_docs,
    run_batch,
)

IDS = itertools.count(1)
BATCH = 20
EXAMPLES = 15  # 15 batches of 20 plus pings: ~315 messages


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    """One server for the module, with the real model loaded and the fuzz documents open."""
    srv = RawServer(FUZZ_SETTINGS)
    status = srv.start()
    assert status["state"] == "ready", status
    open_docs(srv)
    yield srv
    code = srv.close()
    assert code == 0, srv.stderr_text()[-2000:]


def _hover(uri: str) -> dict[str, object]:
    return {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False))
def test_every_request_is_answered_and_the_server_stays_up(
    server: RawServer, rng: random.Random
) -> None:
    """A batch of fuzzed traffic: every request id gets a result or an error; no crash."""
    fuzzer = Fuzzer(rng, IDS)
    result = run_batch(server, [fuzzer.probe() for _ in range(BATCH)], timeout=180)
    assert result.alive, server.stderr_text()[-3000:]
    assert not result.missing, [p.kind for p in result.missing]
    # An internal error means an unhandled exception in a handler: a bug, not an answer.
    assert not result.internal, [(p.kind, m["error"]["message"][:300]) for p, m in result.internal]


def test_non_json_bodies_and_non_objects_are_survived(server: RawServer) -> None:
    """Bodies that are not JSON, or JSON but not an object, then a request that must answer."""
    for body in (b"{", b"\xff\xfe\x00", b"[]", b"[1, 2]", b"42", b'"x"', b"null", b"{}"):
        server.write(frame(body))
    reply = server.call("textDocument/hover", _hover(NEVER_OPENED))
    assert "error" in reply and reply["error"]["code"] == -32602  # document not open
    assert server.alive


def test_content_length_lies_do_not_kill_the_reader(server: RawServer) -> None:
    """Too long (filler completes it) and too short (the rest is skipped): the stream recovers."""
    uri = "file:///caveat-fuzz/lies.py"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}
    server.send("textDocument/didOpen", {"textDocument": item}, request=False)
    body = json.dumps(
        {"jsonrpc": "2.0", "id": "lie-1", "method": "textDocument/hover", "params": _hover(uri)}
    ).encode()
    server.write(b"Content-Length: %d\r\n\r\n" % (len(body) + 9) + body + b"\n" * 9)
    server.write(b"Content-Length: 3\r\n\r\n" + body + b"\r\n")
    server.write(b"Content-Length: nope\r\n\r\n")
    server.write(b"X-Other: 1\r\nContent-Length: 2\r\n\r\n{}")
    reply = server.call("textDocument/hover", _hover(uri))
    assert "result" in reply, reply
    assert server.alive


def test_huge_params_and_out_of_range_positions_get_answers(server: RawServer) -> None:
    """A 1 MB string in params, positions past the end or negative: errors or results, fast."""
    uri = "file:///caveat-fuzz/huge.py"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": "def f(a):\n    return a\n"}
    server.send("textDocument/didOpen", {"textDocument": item}, request=False)
    huge = {
        "textDocument": {"uri": uri, "junk": "Z" * 1_000_000},
        "position": {"line": 0, "character": 0},
    }
    ids = [server.send("textDocument/hover", huge)]
    for line, character in (
        (10**6, 0),
        (0, 10**6),
        (-1, 0),
        (0, -1),
        (2**31, 2**31),
        (float("inf"), 0),
        (0, float("nan")),
    ):
        position = {"line": line, "character": character}
        ids.append(
            server.send("caveat/complete", {"textDocument": {"uri": uri}, "position": position})
        )
        ids.append(
            server.send("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
        )
    got = server.wait(ids, 180)
    assert len(got) == len(ids) and server.alive
    codes = [m["error"]["code"] for m in got.values() if "error" in m]
    assert -32603 not in codes, [m for m in got.values() if "error" in m]


def test_requests_for_unopened_documents_are_invalid_params(server: RawServer) -> None:
    """Every document request on a URI never opened answers InvalidParams, not a crash."""
    pos = {"line": 0, "character": 0}
    doc = {"uri": NEVER_OPENED}
    calls = [
        ("caveat/complete", {"textDocument": doc, "position": pos}),
        (
            "textDocument/inlineCompletion",
            {"textDocument": doc, "position": pos, "context": {"triggerKind": 1}},
        ),
        ("textDocument/completion", {"textDocument": doc, "position": pos}),
        (
            "textDocument/codeAction",
            {
                "textDocument": doc,
                "range": {"start": pos, "end": pos},
                "context": {"diagnostics": []},
            },
        ),
        (
            "workspace/executeCommand",
            {"command": "caveat.scanDocument", "arguments": [NEVER_OPENED]},
        ),
    ]
    for method, params in calls:
        reply = server.call(method, params)
        assert reply.get("error", {}).get("code") == -32602, (method, reply)


def test_versions_out_of_order_keep_the_document_usable(server: RawServer) -> None:
    """didChange with older versions and bad ranges, then a completion still answers."""
    uri = "file:///caveat-fuzz/versions.py"
    item = {"uri": uri, "languageId": "python", "version": 5, "text": "def f():\n    "}
    server.write(
        encode(
            {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": item}}
        )
    )
    for version, start, end in ((3, (0, 0), (0, 0)), (5, (9, 9), (99, 99)), (4, (1, 4), (0, 0))):
        change = {
            "range": {
                "start": {"line": start[0], "character": start[1]},
                "end": {"line": end[0], "character": end[1]},
            },
            "text": "x",
        }
        server.write(
            encode(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didChange",
                    "params": {
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [change],
                    },
                }
            )
        )
    reply = server.call(
        "caveat/complete", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}}
    )
    assert "result" in reply, reply
    assert server.alive


def _lsp_lines(text: str) -> list[str]:
    """Lines by LSP's rules (written out here, independent of the server's code)."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def _offset(text: str, line: int, character: int) -> int:
    """The offset of an LSP position in BMP-only `text` (so UTF-16 columns are characters)."""
    lines = _lsp_lines(text)
    return sum(len(x) for x in lines[:line]) + character


def test_only_lsp_line_breaks_split_lines(server: RawServer) -> None:
    """U+2028, U+0085, \\x0b, \\x0c, \\x1c are not line breaks: edits and ranges stay in step."""
    uri = "file:///caveat-fuzz/breaks.py"
    text = "s = 'Welcome\u2028home\x0bto\x0cthe\x1csea\u0085'\nn = 1\r\nm = 2\rk = 3\n"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    server.send("textDocument/didOpen", {"textDocument": item}, request=False)
    for version, (line, start, end, new) in enumerate([(1, 4, 5, "10"), (3, 5, 5, " + n")], 2):
        rng = {
            "start": {"line": line, "character": start},
            "end": {"line": line, "character": end},
        }
        text = text[: _offset(text, line, start)] + new + text[_offset(text, line, end) :]
        server.send(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": rng, "text": new}],
            },
            request=False,
        )
    assert text.endswith("n = 10\r\nm = 2\rk = 3 + n\n")
    scan = server.call(
        "workspace/executeCommand", {"command": "caveat.scanDocument", "arguments": [uri]}
    )
    assert "result" in scan, scan
    tokens = server.confidence[uri]["tokens"]
    assert tokens and server.confidence[uri]["version"] == 3
    spans: list[tuple[int, int]] = []
    for token in tokens:
        start, end = token["range"]["start"], token["range"]["end"]
        lines = [*_lsp_lines(text), ""]
        for pos in (start, end):
            assert pos["line"] < len(lines), token
            # (a tokenizer may cut between the \r and \n of a CRLF)
            assert pos["character"] <= len(lines[pos["line"]].rstrip("\n")), token
        span = (
            _offset(text, start["line"], start["character"]),
            _offset(text, end["line"], end["character"]),
        )
        if not spans or span != spans[-1]:  # byte tokens of one character share its range
            spans.append(span)
    # The scanned tokens, read back from the client's text, are the client's text.
    assert "".join(text[a:b] for a, b in spans).strip() == text.strip()
