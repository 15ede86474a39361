"""Bounded input (issue #22, item 3 and Limits): a header cannot make the server allocate.

Each test drives a real `caveat serve` over stdio with a raw client; the model path names a
missing file, so nothing loads.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from caveat.bench.fuzz import RawServer, encode
from caveat.commands import serve
from caveat.server import transport
from caveat.server.settings import settings_schema

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


def _warnings(srv: RawServer) -> str:
    return "\n".join(m["message"] for m in srv.messages)


def test_settings_beyond_the_machine_are_capped_and_nan_refused() -> None:
    """contextLength above the training context, threads above the cores: capped, logged.

    The real embedded model (trained on 32768 tokens) loads; the process keeps a few threads,
    not 256. temperature NaN is refused by name.
    """
    settings = {
        "model": {"contextLength": 1_048_576, "threads": 256},
        "completion": {"temperature": float("nan"), "maxTokens": 4},
    }
    srv = RawServer(settings)
    try:
        assert srv.start()["state"] == "ready", srv.statuses
        log = srv.stderr_text()
        assert "contextLength 1048576: the model was trained on 32768 tokens" in log
        assert f"threads 256 is more than the {os.cpu_count()} CPU cores" in log
        threads = Path(f"/proc/{srv.proc.pid}/status").read_text().split("Threads:")[1]
        assert int(threads.split()[0]) < 40
        assert "completion.temperature = nan: expected a finite number" in _warnings(srv)
        assert srv.close() == 0
    finally:
        if srv.alive:
            srv.proc.kill()


def test_context_is_capped_by_memory_with_the_real_cause() -> None:
    """KV cache per token from the embedded model's metadata; the cap names memory, not the file."""
    from caveat.engine.model import kv_bytes_per_token, open_llama, resolve_model_path
    from caveat.server.features.config import fit_context

    llm = open_llama(resolve_model_path(None), n_ctx=256, n_threads=1, vocab_only=True)
    try:
        per_token = kv_bytes_per_token(dict(llm.metadata))
    finally:
        llm.close()
    # Gemma 3 270M: 18 layers x 1 KV head x (256 + 256) x 2 bytes.
    assert per_token == 18 * 1 * 512 * 2
    assert fit_context(4096, 32768, per_token, 8 * 2**30) == (4096, "")
    n_ctx, why = fit_context(32768, 32768, per_token, 200 * 2**20)
    assert n_ctx == (100 * 2**20 // per_token) // 256 * 256 and n_ctx < 32768
    assert "GiB of memory is available" in why and "KV cache" in why
    assert fit_context(65536, 32768, per_token, 0) == (
        32768,
        "the model was trained on 32768 tokens",
    )


def test_hash_index_keeps_one_entry_per_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sha256 index forgets files that are gone and older hashes of the same path."""
    from caveat.engine import model

    monkeypatch.setattr(model, "cache_dir", lambda: tmp_path)
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    model.file_sha256(a)
    model.file_sha256(b)
    a.write_bytes(b"one, changed")
    model.file_sha256(a)
    b.unlink()
    c = tmp_path / "c.gguf"
    c.write_bytes(b"three")
    model.file_sha256(c)
    index = json.loads((tmp_path / "sha256-index.json").read_text())
    assert [k.rsplit("|", 1)[0] for k in index] == [str(a), str(c)]


def test_a_huge_model_path_is_not_echoed_whole(raw: RawServer) -> None:
    """A 100 KB model path: the error and the settings warning stay short."""
    path = "/nonexistent/" + "p" * 100_000 + ".gguf"
    raw.settings = {"model": {"path": path}, "completion": {"healing": "h" * 100_000}}
    raw.send("workspace/didChangeConfiguration", {"settings": None}, request=False)
    raw.call("textDocument/hover", HOVER, WAIT)
    with raw._cond:
        raw._cond.wait_for(lambda: len(raw.statuses) >= 4, WAIT)
    assert raw.statuses[-1]["state"] == "error", raw.statuses
    assert all(len(s.get("message", "")) < 1000 for s in raw.statuses)
    assert all(len(m["message"]) < 1000 for m in raw.messages), [
        len(m["message"]) for m in raw.messages
    ]


def test_clear_counts_only_documents_it_cleared(raw: RawServer) -> None:
    """caveat.clear on a URI never opened clears nothing, and says so."""
    clear = {"command": "caveat.clear", "arguments": ["file:///never/opened.py"]}
    assert raw.call("workspace/executeCommand", clear, WAIT)["result"] == {"cleared": 0}


def test_protocol_doc_lists_the_decoding_modes_the_server_accepts(repo: Path) -> None:
    """docs/PROTOCOL.md and the settings agree on completion.decoding."""
    row = next(
        line
        for line in (repo / "docs" / "PROTOCOL.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `completion.decoding`")
    )
    documented = row.split("|")[2]
    info = next(s for s in settings_schema() if s.key == "completion.decoding")
    assert info.choices is not None
    assert sorted(re.findall(r'"(\w+)"', documented)) == sorted(info.choices)
