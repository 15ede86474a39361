"""Security properties of a real session: no network sockets, no workspace writes, quiet logs.

One server (real model) runs a session over a temporary workspace: open, complete, accept,
scan, hover, code actions, save, close. Afterwards the server process owns no TCP/UDP socket,
the workspace files are byte-for-byte and mtime unchanged, and the log file written with default
verbosity holds no document text. `--tcp` binds 127.0.0.1 by default; a model path that is not
a GGUF file is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from caveat.bench.fuzz import FUZZ_SETTINGS, RawServer

# A marker that can only reach the log by copying document text.
MARKER = "zqx_caveat_secret_token_4711"
SOURCE = (
    f"API_KEY = '{MARKER}'\n\n"
    "def checksum(data):\n"
    "    total = 0\n"
    "    for byte in data:\n"
    "        total = (total * 31 + byte) % 65521\n"
    "    return "
)
SETTINGS = {**FUZZ_SETTINGS, "completion": {"maxTokens": 8, "debounceMs": 0}}


def inet_sockets(pid: int) -> dict[str, list[str]]:
    """The process's TCP/UDP sockets, by /proc/net table, as "local_address state" rows."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found: dict[str, list[str]] = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            cols = row.split()
            if cols[9] in inodes:
                found.setdefault(table, []).append(f"{cols[1]} {cols[3]}")
    return found


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime (ns) of every file under `root`."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Run a full editing session against a workspace; yield what to check afterwards."""
    root = tmp_path_factory.mktemp("workspace")
    (root / "pkg").mkdir()
    doc_path = root / "pkg" / "checksum.py"
    doc_path.write_text(SOURCE, encoding="utf-8")
    (root / "README.md").write_text("# workspace\n", encoding="utf-8")
    log_file = tmp_path_factory.mktemp("logs") / "caveat.log"
    before = snapshot(root)
    argv = [sys.executable, "-m", "caveat", "serve", "--log-file", str(log_file)]
    srv = RawServer(SETTINGS, argv=argv)
    assert srv.start()["state"] == "ready"
    uri = doc_path.as_uri()
    item = {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
    srv.send("textDocument/didOpen", {"textDocument": item}, request=False)
    end = {"line": SOURCE.count("\n"), "character": len(SOURCE.rsplit("\n", 1)[1])}
    reply = srv.call("caveat/complete", {"textDocument": {"uri": uri}, "position": end})
    result = reply["result"]
    assert result["text"], result
    change = {"range": {"start": end, "end": end}, "text": result["text"]}
    srv.send(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [change]},
        request=False,
    )
    srv.call(
        "workspace/executeCommand",
        {"command": "caveat.accept", "arguments": [{"completionId": result["id"]}]},
    )
    scan = srv.call(
        "workspace/executeCommand", {"command": "caveat.scanDocument", "arguments": [uri]}
    )
    assert "result" in scan, scan
    for line in range(SOURCE.count("\n") + 1):
        pos = {"line": line, "character": 4}
        srv.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos})
        srv.call(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": {"start": pos, "end": pos},
                "context": {"diagnostics": []},
            },
        )
    srv.send("textDocument/didSave", {"textDocument": {"uri": uri}}, request=False)
    srv.send("textDocument/didClose", {"textDocument": {"uri": uri}}, request=False)
    srv.call("workspace/executeCommand", {"command": "caveat.clear", "arguments": []})
    sockets = inet_sockets(srv.proc.pid)
    code = srv.close()
    yield {
        "root": root,
        "before": before,
        "log": log_file,
        "sockets": sockets,
        "code": code,
        "completion": result["text"],
    }


def test_no_network_socket_after_a_session(session: dict[str, object]) -> None:
    """Over stdio the server owns no TCP or UDP socket, listening or outbound."""
    assert session["sockets"] == {}
    assert session["code"] == 0


def test_workspace_files_are_untouched(session: dict[str, object]) -> None:
    """Same files, same bytes, same mtimes: the server never writes to the workspace."""
    root = session["root"]
    assert isinstance(root, Path)
    assert snapshot(root) == session["before"]


def test_default_log_has_no_document_text(session: dict[str, object]) -> None:
    """The log file exists and has content, but no line of the document in it."""
    log = session["log"]
    assert isinstance(log, Path)
    text = log.read_text(encoding="utf-8")
    assert "loaded" in text  # the log really was written (model load at INFO)
    assert MARKER not in text
    for line in SOURCE.splitlines():
        if len(line.strip()) > 12:
            assert line.strip() not in text, line
    completion = str(session["completion"]).strip()
    if len(completion) > 12:
        assert completion not in text


def _listening(pid: int, timeout: float = 30.0) -> list[str]:
    """Wait for the process to listen on a TCP port; return its listening rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for rows in inet_sockets(pid).values() for r in rows if r.endswith(" 0A")]
        if rows:
            return rows
        time.sleep(0.2)
    return []


def test_tcp_binds_loopback_by_default() -> None:
    """`serve --tcp` listens on 127.0.0.1 only (0100007F in /proc/net/tcp)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "caveat", "serve", "--tcp", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        rows = _listening(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert rows, "the server never listened"
    assert all(r.split()[0] == f"0100007F:{port:04X}" for r in rows), rows


def test_non_gguf_model_path_is_refused(tmp_path: Path) -> None:
    """A model path to a text file (or a relative escape) loads nothing and says why."""
    fake = tmp_path / "model.gguf"
    fake.write_text("import os; os.system('echo pwned')\n", encoding="utf-8")
    for path in (str(fake), "../../../../etc/passwd"):
        srv = RawServer({"model": {"path": path, "threads": 1}})
        try:
            status = srv.start(timeout=120)
            assert status["state"] == "error", status
            assert status.get("message"), status
            assert srv.alive
        finally:
            assert srv.close() == 0
