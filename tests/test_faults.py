"""Faults the server must survive, injected through a fake model and through the real one.

The fake model (`FaultyEngine`) stands in for the engine only to inject faults: this module,
run as a script, patches `caveat.engine.load_engine` and starts `caveat serve`. A control file
(path in CAVEAT_FAULT_FILE) says what the next model call does: decode normally, slowly, raise
mid-decode, or raise an exception that is not an Exception (the kind that ends a thread). The
model-file faults (deleted, corrupted, restored between requests) use the real model.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from caveat.bench.fuzz import RawServer
from caveat.engine.types import Completion, CompletionRequest, Timings
from caveat.records.types import TokenRecord

FAULT_ENV = "CAVEAT_FAULT_FILE"
LOAD_DELAY_ENV = "CAVEAT_FAULT_LOAD_DELAY"
SETTINGS: dict[str, Any] = {"model": {"threads": 1}, "completion": {"debounceMs": 0}}


class FaultyEngine:
    """A model that emits "x = 1" one token at a time, or fails as the control file says."""

    def __init__(self, control: Path) -> None:
        """Read faults from `control` at every call."""
        self.control = control
        self.info = SimpleNamespace(name="faulty", sha256="0" * 64, path=str(control))

    def _mode(self) -> str:
        try:
            return self.control.read_text().strip()
        except OSError:
            return "ok"

    def complete(
        self,
        req: CompletionRequest,
        *,
        cancel: threading.Event | None = None,
        on_token: Callable[[TokenRecord], None] | None = None,
    ) -> Completion:
        """Decode a fixed text (slowly in mode `slow`), failing mid-way in the fault modes."""
        mode = self._mode()
        records = []
        offset = 0
        for n, piece in enumerate(("x", " =", " 1")):
            if cancel is not None and cancel.is_set():
                return self._done("", (), "cancelled")
            if n == 2 and mode == "raise":
                raise RuntimeError("injected fault: the model failed mid-decode")
            if n == 2 and mode == "exit":
                raise SystemExit("injected fault: the model thread is ending")
            data = piece.encode()
            record = TokenRecord(n + 1, data, offset, -0.1, 0.2, 3.0, ())
            offset += len(data)
            records.append(record)
            if on_token is not None:
                on_token(record)
            if mode == "slow":
                time.sleep(0.5)
        return self._done("x = 1", tuple(records), "eos")

    @staticmethod
    def _done(text: str, records: tuple[TokenRecord, ...], reason: Any) -> Completion:
        return Completion("fake", text, records, "prefix", reason, Timings(total_ms=1.0))

    def scan(self, text: str, **_: Any) -> list[TokenRecord]:
        """No records: the fake scores nothing."""
        return []

    def close(self) -> None:
        """Nothing to release."""


def _serve_with_faulty_engine() -> int:
    """Script entry: `caveat serve` with the faulty engine in place of the real loader."""
    import caveat.engine.loader
    from caveat.cli import main

    control = Path(os.environ[FAULT_ENV])

    def load_engine(*_: Any, **__: Any) -> FaultyEngine:
        time.sleep(float(os.environ.get(LOAD_DELAY_ENV, "0")))
        return FaultyEngine(control)

    caveat.engine.loader.load_engine = load_engine  # type: ignore[assignment]
    return main(["serve"])


# --- fixtures ------------------------------------------------------------------------------


def _start_fake(control: Path, load_delay: float = 0.0, wait: bool = True) -> RawServer:
    os.environ[FAULT_ENV] = str(control)
    os.environ[LOAD_DELAY_ENV] = str(load_delay)
    try:
        srv = RawServer(SETTINGS, argv=[sys.executable, __file__])
        srv.start(timeout=60, wait_model=wait)
    finally:
        del os.environ[FAULT_ENV], os.environ[LOAD_DELAY_ENV]
    return srv


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fault control file (starts as "ok")."""
    path = tmp_path_factory.mktemp("faults") / "mode"
    path.write_text("ok")
    return path


@pytest.fixture(scope="module")
def fake(control: Path) -> Iterator[RawServer]:
    """One server with the faulty engine, shared by the module's tests."""
    srv = _start_fake(control)
    yield srv
    assert srv.close() == 0, srv.stderr_text()[-3000:]


def _open(srv: RawServer, name: str, text: str = "def f():\n    ") -> dict[str, Any]:
    uri = f"file:///caveat-faults/{name}.py"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    srv.send("textDocument/didOpen", {"textDocument": item}, request=False)
    lines = text.split("\n")
    return {
        "textDocument": {"uri": uri},
        "position": {"line": len(lines) - 1, "character": len(lines[-1])},
    }


# --- tests ---------------------------------------------------------------------------------


def test_model_raising_mid_decode_is_an_error_then_recovers(fake: RawServer, control: Path) -> None:
    """A decode that raises answers with a JSON-RPC error; the next request works."""
    params = _open(fake, "raise")
    control.write_text("raise")
    reply = fake.call("caveat/complete", params)
    assert "error" in reply, reply
    control.write_text("ok")
    reply = fake.call("caveat/complete", params)
    assert reply["result"]["text"] == "x = 1", reply
    assert fake.alive


def test_worker_thread_dying_is_survived_and_reported(fake: RawServer, control: Path) -> None:
    """A fault that ends the model thread: the request errors, the user is told, work goes on."""
    params = _open(fake, "exit")
    shown = len(fake.messages)
    control.write_text("exit")
    reply = fake.call("caveat/complete", params, timeout=60)
    assert "error" in reply, reply
    assert fake.alive, fake.stderr_text()[-3000:]
    control.write_text("ok")
    reply = fake.call("caveat/complete", params, timeout=60)
    assert reply.get("result", {}).get("text") == "x = 1", reply
    told = [m["message"] for m in fake.messages[shown:]]
    assert any("model" in m.lower() for m in told), told


def test_cancellation_storm(fake: RawServer, control: Path) -> None:
    """200 requests each cancelled at once: every one answered, then a normal completion."""
    params = _open(fake, "storm")
    control.write_text("slow")
    ids = []
    for _ in range(200):
        rid = fake.send("caveat/complete", {**params, "partialResultToken": "storm"})
        fake.send("$/cancelRequest", {"id": rid}, request=False)
        ids.append(rid)
    got = fake.wait(ids, 120)
    assert len(got) == len(ids), f"{len(got)} of {len(ids)} answered"
    for msg in got.values():
        ok = "result" in msg and msg["result"]["stopReason"] == "cancelled"
        assert ok or msg.get("error", {}).get("code") == -32800, msg
    control.write_text("ok")
    reply = fake.call("caveat/complete", params, timeout=30)
    assert reply["result"]["text"] == "x = 1", reply


def test_request_while_the_model_loads_waits_for_it(control: Path) -> None:
    """A completion sent before the (slow) load finishes is answered once the model is up."""
    control.write_text("ok")
    srv = _start_fake(control, load_delay=3.0, wait=False)
    try:
        params = _open(srv, "early")
        t0 = time.monotonic()
        reply = srv.call("caveat/complete", params, timeout=60)
        assert reply.get("result", {}).get("text") == "x = 1", reply
        assert time.monotonic() - t0 > 1.0  # it really waited for the load
    finally:
        assert srv.close() == 0


def test_client_disconnect_mid_stream_ends_the_server(control: Path) -> None:
    """Closing the pipes while a completion streams: the server exits on its own, promptly."""
    control.write_text("slow")
    srv = _start_fake(control)
    params = _open(srv, "gone")
    srv.send("caveat/complete", {**params, "partialResultToken": "gone"})
    time.sleep(0.6)  # mid-stream: the first chunk is out, the decode goes on
    srv.disconnect()
    srv.proc.wait(timeout=30)
    assert srv.proc.returncode == 0, srv.stderr_text()[-2000:]
    control.write_text("ok")


# --- the real model file, deleted and corrupted between requests ----------------------------


def _model_file() -> Path:
    from caveat.engine.model import resolve_model_path

    return resolve_model_path(None)


def _reload(srv: RawServer, context: int) -> dict[str, Any]:
    """Change model.contextLength (a model setting): the server reloads; wait for the outcome."""
    before = len(srv.statuses)
    srv.settings = {**srv.settings, "model": {**srv.settings["model"], "contextLength": context}}
    srv.send("workspace/didChangeConfiguration", {"settings": None}, request=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = [s for s in srv.statuses[before:] if s.get("state") in ("ready", "error")]
        if done:
            return done[-1]
        time.sleep(0.1)
    raise AssertionError("no reload outcome")


def test_model_file_deleted_and_corrupted_between_requests(tmp_path: Path) -> None:
    """Deleted: the loaded model goes on; a reload fails clearly; restored: it works again."""
    path = tmp_path / "model.gguf"
    shutil.copyfile(_model_file(), path)
    settings = {
        "model": {"path": str(path), "threads": 1, "contextLength": 1024},
        "completion": {"maxTokens": 4, "debounceMs": 0},
    }
    srv = RawServer(settings)
    try:
        assert srv.start()["state"] == "ready"
        params = _open(srv, "model")
        assert "result" in srv.call("caveat/complete", params)
        backup = tmp_path / "backup.gguf"
        path.rename(backup)  # deleted: the mapped model keeps working
        assert "result" in srv.call("caveat/complete", params)
        status = _reload(srv, 1025)
        assert status["state"] == "error" and str(path) in status.get("message", ""), status
        reply = srv.call("caveat/complete", params)
        assert reply.get("error", {}).get("code") == -32803, reply
        # Corrupted: same size, garbage past a valid-looking start.
        data = bytearray(backup.read_bytes()[:4096])
        path.write_bytes(bytes(data) + os.urandom(1 << 20))
        status = _reload(srv, 1026)
        assert status["state"] == "error", status
        assert srv.alive
        path.unlink()
        backup.rename(path)
        status = _reload(srv, 1027)
        assert status["state"] == "ready", status
        assert "result" in srv.call("caveat/complete", params)
    finally:
        assert srv.close() == 0, srv.stderr_text()[-3000:]


if __name__ == "__main__":
    sys.exit(_serve_with_faulty_engine())
