"""`caveat bench fuzz`: throw malformed and hostile LSP traffic at `caveat serve` over stdio.

The messages mix well-formed requests with mutated ones (wrong types, missing keys, huge
strings, out-of-range or negative positions), unknown methods, versions out of order, requests
for documents never opened, cancellations of random ids, and raw framing faults (a body that is
not JSON, JSON that is not an object, a Content-Length that lies). Every request must get a
result or a JSON-RPC error, and the server must stay up. `Fuzzer` takes any `random.Random`, so
the tests drive the same generator from hypothesis (which can then shrink a failing batch).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import logging
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from caveat.bench.lspio import process_rss_mb, read_frame

log = logging.getLogger(__name__)

#: Settings for fuzzing: one model thread, short completions, no debounce.
FUZZ_SETTINGS: dict[str, Any] = {
    "model": {"threads": 1, "contextLength": 2048},
    "completion": {"maxTokens": 4, "debounceMs": 0},
}

# Documents the fuzzer opens and edits (small ones, so an occasional scan stays cheap).
DOCS = tuple(f"file:///caveat-fuzz/doc{i}.py" for i in range(4))
NEVER_OPENED = "file:///caveat-fuzz/never-opened.py"
_TEXTS = (
    "def add(a, b):\n    return a + b\n",
    "import os\n\nfor name in os.listdir('.'):\n    print(name)\n",
    "x = '😀é\u0301'\r\nif x:\r\n\tpass\r\n",
    "",
)
_REQUESTS = (
    "textDocument/hover",
    "textDocument/codeAction",
    "textDocument/inlineCompletion",
    "textDocument/completion",
    "caveat/complete",
    "workspace/executeCommand",
)
_UNKNOWN = ("caveat/nothing", "textDocument/definition", "foo", "", "$/unknown", "rpc.x")
_NOTIFICATIONS = (
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "$/cancelRequest",
    "workspace/didChangeConfiguration",
    "$/setTrace",
)


def frame(body: bytes) -> bytes:
    """One LSP message: the Content-Length header and the body."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(message: Any) -> bytes:
    """A framed JSON message (lone surrogates and NaN allowed: they are part of the fuzz)."""
    return frame(json.dumps(message).encode("utf-8"))


@dataclass(frozen=True)
class Probe:
    """One thing written to the server: the bytes, and the id a response must carry (if any)."""

    kind: str
    data: bytes
    request_id: Any = None


class Fuzzer:
    """Generates probes from a random source; ids are unique so responses can be matched."""

    def __init__(self, rng: random.Random, ids: itertools.count[int] | None = None) -> None:
        """Draw everything from `rng`; `ids` numbers the requests (shared across fuzzers)."""
        self.rng = rng
        self.ids = ids if ids is not None else itertools.count(1)
        self.versions = dict.fromkeys(DOCS, 1)

    # --- values ----------------------------------------------------------------------------

    def junk(self, depth: int = 0) -> Any:
        """Any JSON value, biased towards the ones that break naive handlers."""
        r = self.rng
        pick = r.randrange(12 if depth < 2 else 8)
        if pick == 0:
            return None
        if pick == 1:
            return r.choice([True, False])
        if pick == 2:
            return r.choice([0, -1, 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**70, 7])
        if pick == 3:
            return r.choice([0.5, -0.0, 1e308, -1e-308, float("nan"), float("inf")])
        if pick == 4:
            return r.choice(["", "x", "\ud800", "é\u0301", "😀", "\x00\x01", "a" * 300])
        if pick == 5:
            return self.uri()
        if pick == 6:
            return "Z" * r.choice([10_000, 200_000])  # huge params
        if pick == 7:
            return {"line": self.coord(), "character": self.coord()}
        if pick in (8, 9):
            return [self.junk(depth + 1) for _ in range(r.randrange(4))]
        return {r.choice(["uri", "position", "x", ""]): self.junk(depth + 1) for _ in range(3)}

    def coord(self) -> Any:
        """A line or character: mostly plausible, sometimes out of range or not a number."""
        r = self.rng
        if r.random() < 0.6:
            return r.randrange(6)
        return r.choice([-1, 10_000, 2**31 - 1, 2**31, 2**53, 1.5, "3", None, [], {}])

    def uri(self) -> Any:
        """A document URI: open, never opened, or odd."""
        r = self.rng
        if r.random() < 0.75:
            return r.choice(DOCS)
        return r.choice([NEVER_OPENED, "", "not a uri", "file:///../../etc/passwd", "untitled:1"])

    def position(self) -> dict[str, Any]:
        """A Position, possibly out of range."""
        return {"line": self.coord(), "character": self.coord()}

    def mutate(self, value: Any) -> Any:
        """Replace, drop or add parts of a well-formed value, each with a small chance."""
        r = self.rng
        if r.random() < 0.08:
            return self.junk()
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if r.random() < 0.06:
                    continue
                out[key] = self.mutate(item)
            if r.random() < 0.05:
                out[r.choice(["extra", "uri", "textDocument"])] = self.junk()
            return out
        if isinstance(value, list):
            return [self.mutate(item) for item in value]
        return value

    # --- messages --------------------------------------------------------------------------

    def params(self, method: str) -> Any:
        """Well-formed params for a method the server knows."""
        r = self.rng
        doc = {"uri": self.uri()}
        pos = self.position()
        rng = {"start": pos, "end": self.position()}
        if method == "textDocument/codeAction":
            return {"textDocument": doc, "range": rng, "context": {"diagnostics": []}}
        if method == "textDocument/inlineCompletion":
            kind = r.choice([1, 2])
            return {"textDocument": doc, "position": pos, "context": {"triggerKind": kind}}
        if method == "caveat/complete":
            params: dict[str, Any] = {"textDocument": doc, "position": pos}
            if r.random() < 0.5:
                params["partialResultToken"] = f"p{r.randrange(10**6)}"
            return params
        if method == "workspace/executeCommand":
            command = r.choice(["caveat.accept", "caveat.clear", "caveat.scanDocument", "nope"])
            if command == "caveat.scanDocument" and r.random() < 0.8:
                command = "caveat.clear"  # scans cost a teacher-forced pass: keep them rare
            args = r.choice([[doc["uri"]], [{"completionId": f"c{r.randrange(50)}"}], [], None])
            return {"command": command, "arguments": args}
        if method == "textDocument/didOpen":
            text = r.choice(_TEXTS) + r.choice(["", "\ud800", "\x00\x7f", "é" * 50])
            version = r.choice([1, 0, -5, 2**31])
            item = {"uri": doc["uri"], "languageId": r.choice(["python", "rust", "???"])}
            return {"textDocument": {**item, "version": version, "text": text}}
        if method == "textDocument/didChange":
            uri = doc["uri"]
            version = self.versions.get(uri, 1) + r.choice([1, 1, 1, 0, -3, 1000])
            self.versions[uri] = version
            change: dict[str, Any] = {"range": rng, "text": r.choice(["a", "\n", "", "😀", "\r\n"])}
            if r.random() < 0.1:
                change = {"text": r.choice(_TEXTS)}
            return {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        if method == "$/cancelRequest":
            return {"id": r.choice([r.randrange(1, 10**4), "x", -1])}
        if method == "workspace/didChangeConfiguration":
            return {"settings": r.choice([None, {}, {"caveat": {"completion": {"maxTokens": 4}}}])}
        if method == "$/setTrace":
            return {"value": r.choice(["off", "verbose", "loud"])}
        return {"textDocument": doc, "position": pos}

    def request(self, method: str, params: Any, kind: str) -> Probe:
        """A request with a fresh id (an int or a string, both legal)."""
        n = next(self.ids)
        rid: Any = n if self.rng.random() < 0.7 else f"fuzz-{n}"
        message = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not _ABSENT:
            message["params"] = params
        return Probe(kind, encode(message), rid)

    def notification(self, method: str, params: Any, kind: str) -> Probe:
        """A notification (no answer expected)."""
        return Probe(kind, encode({"jsonrpc": "2.0", "method": method, "params": params}))

    def probe(self) -> Probe:
        """One probe of a random category."""
        r = self.rng
        roll = r.random()
        if roll < 0.30:
            method = r.choice(_REQUESTS)
            return self.request(method, self.params(method), "request")
        if roll < 0.50:
            method = r.choice(_REQUESTS)
            params = self.mutate(self.params(method)) if r.random() < 0.8 else _ABSENT
            return self.request(method, params, "mutated-request")
        if roll < 0.72:
            method = r.choice(_NOTIFICATIONS)
            params = self.params(method)
            if r.random() < 0.3:
                params = self.mutate(params)
            return self.notification(method, params, "notification")
        if roll < 0.80:
            return self.request(r.choice(_UNKNOWN), self.junk(), "unknown-method")
        if roll < 0.84:
            return self.notification(r.choice(_UNKNOWN), self.junk(), "unknown-notification")
        if roll < 0.88:
            rid = r.choice([None, 1.5, {"a": 1}, [1], True])
            head = {"jsonrpc": "2.0", "id": rid, "method": "textDocument/hover"}
            return Probe("odd-id", encode({**head, "params": self.params("textDocument/hover")}))
        if roll < 0.93:
            return Probe("not-json", frame(r.choice([b"{", b"nul", b"\xff\xfe", b"{'a': 1}"])))
        if roll < 0.97:
            body = json.dumps(r.choice([[], [1, 2], 42, "str", None, [{"jsonrpc": "2.0"}]]))
            return Probe("not-object", frame(body.encode()))
        return self.framing_lie()

    def framing_lie(self) -> Probe:
        """A Content-Length that lies, followed by what resynchronises the stream."""
        body = b'{"jsonrpc": "2.0", "method": "$/noop", "params": {}}'
        if self.rng.random() < 0.5:
            # Longer than the body: filler completes the claimed length, then a blank line.
            claimed = len(body) + 17
            return Probe("length-long", b"Content-Length: %d\r\n\r\n" % claimed + body + b" " * 17)
        # Shorter: the tail of the body reads as a header line and is skipped up to the newline.
        return Probe("length-short", b"Content-Length: 5\r\n\r\n" + body + b"\r\n")


_ABSENT = object()


class RawServer:
    """`caveat serve` on pipes, read by a thread that parses frames and answers server requests."""

    def __init__(
        self,
        settings: dict[str, Any],
        *,
        argv: list[str] | None = None,
        unanswered: frozenset[str] = frozenset(),
    ) -> None:
        """Start the server process (stderr goes to a temporary log, never to a pipe).

        Server requests whose method is in `unanswered` are left without an answer, as a
        client that hangs would.
        """
        import tempfile

        self.settings = settings
        self.unanswered = unanswered
        # Closed in close(): the file lives as long as the process writes to it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        cmd = argv or [sys.executable, "-m", "caveat", "serve"]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._cond = threading.Condition()
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self.responses: dict[str, dict[str, Any]] = {}
        self.notifications: collections.Counter[str] = collections.Counter()
        self.statuses: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.diagnostics: dict[str, dict[str, Any]] = {}  # the latest publish per URI
        self.null_errors: list[dict[str, Any]] = []  # error answers to messages without an id
        self.confidence: dict[str, dict[str, Any]] = {}  # the latest tokenConfidence per URI
        self.unparsed = 0
        self._ids = itertools.count(10**9)
        self._reader = threading.Thread(target=self._read, name="fuzz-reader", daemon=True)
        self._reader.start()
        self._writer_thread = threading.Thread(target=self._writer, name="fuzz-writer", daemon=True)
        self._writer_thread.start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while (body := read_frame(stream)) is not None:
            try:
                message = json.loads(body)
            except ValueError:
                self.unparsed += 1
                continue
            self._dispatch(message)
        with self._cond:
            self._cond.notify_all()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            with self._cond:
                if msg.get("id") is None:
                    self.null_errors.append(msg)
                else:
                    self.responses[json.dumps(msg.get("id"))] = msg
                self._cond.notify_all()
            return
        if "id" in msg:  # a server-to-client request: answer as an editor would
            if method in self.unanswered:
                return
            result: Any = None
            if method == "workspace/configuration":
                result = [self.settings for _ in msg["params"]["items"]]
            self.write(encode({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
            return
        with self._cond:
            self.notifications[method] += 1
            if method == "caveat/status":
                self.statuses.append(msg["params"])
            elif method == "window/showMessage":
                self.messages.append(msg["params"])
            elif method == "textDocument/publishDiagnostics":
                self.diagnostics[msg["params"]["uri"]] = msg["params"]
            elif method == "caveat/tokenConfidence":
                self.confidence[msg["params"]["uri"]] = msg["params"]
            self._cond.notify_all()

    def write(self, data: bytes) -> None:
        """Queue raw bytes for the server's stdin (the writer thread sends them in order)."""
        self._outbox.put(data)

    def _writer(self) -> None:
        # Writes happen here only: if the reader answered server requests itself, a full stdin
        # pipe (the server busy writing to us) would deadlock both processes.
        stdin = self.proc.stdin
        assert stdin is not None
        while (data := self._outbox.get()) is not None:
            try:
                stdin.write(data)
                stdin.flush()
            except (OSError, ValueError):
                return  # the server is gone or the pipe was closed

    def send(self, method: str, params: Any = None, *, request: bool = True) -> Any:
        """Send a well-formed request (returns its id) or notification."""
        if not request:
            self.write(encode({"jsonrpc": "2.0", "method": method, "params": params}))
            return None
        rid = next(self._ids)
        self.write(encode({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        return rid

    def wait(self, ids: list[Any], timeout: float) -> dict[str, dict[str, Any]]:
        """Wait for responses to all `ids` (or the process to end); return those that came."""
        keys = [json.dumps(i) for i in ids]
        with self._cond:
            self._cond.wait_for(
                lambda: all(k in self.responses for k in keys) or self.proc.poll() is not None,
                timeout,
            )
            return {k: self.responses.pop(k) for k in keys if k in self.responses}

    def call(self, method: str, params: Any = None, timeout: float = 120.0) -> dict[str, Any]:
        """Send a request and wait for its response message."""
        rid = self.send(method, params)
        got = self.wait([rid], timeout)
        if not got:
            raise TimeoutError(f"no answer to {method} in {timeout:.0f}s (alive: {self.alive})")
        return next(iter(got.values()))

    def disconnect(self) -> None:
        """Send what is queued, then close the server's stdin, as a client that goes away."""
        self._outbox.put(None)
        self._writer_thread.join(timeout=30)
        if self.proc.stdin is not None:
            self.proc.stdin.close()

    @property
    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.proc.poll() is None

    def start(self, timeout: float = 600.0, wait_model: bool = True) -> dict[str, Any]:
        """initialize + initialized; optionally wait for the model; return the last status."""
        self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {
                    "workspace": {"configuration": True},
                    "window": {"workDoneProgress": True},
                },
                "initializationOptions": self.settings,
            },
        )
        self.send("initialized", {}, request=False)
        if not wait_model:
            return {}
        with self._cond:
            self._cond.wait_for(
                lambda: any(s.get("state") in ("ready", "error") for s in self.statuses), timeout
            )
        done = [s for s in self.statuses if s.get("state") in ("ready", "error")]
        if not done:
            raise TimeoutError("the model did not load")
        return done[-1]

    def stderr_text(self) -> str:
        """What the server wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", errors="replace")

    def close(self) -> int | None:
        """shutdown + exit; kill if it does not go. Returns the exit code."""
        try:
            if self.alive:
                self.call("shutdown", None, timeout=30)
                self.send("exit", None, request=False)
                self.proc.wait(timeout=15)
        except (OSError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._outbox.put(None)
        self._stderr.close()
        return self.proc.returncode


def open_docs(server: RawServer) -> None:
    """Open the fuzzer's documents with their first texts."""
    for uri, text in zip(DOCS, _TEXTS, strict=True):
        item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        server.send("textDocument/didOpen", {"textDocument": item}, request=False)


@dataclass
class BatchResult:
    """What one batch did: probes by kind, responses by error code, missing answers."""

    sent: collections.Counter[str]
    codes: collections.Counter[str]
    missing: list[Probe]
    internal: list[tuple[Probe, dict[str, Any]]]
    alive: bool


def run_batch(server: RawServer, probes: list[Probe], timeout: float = 120.0) -> BatchResult:
    """Write the probes, then a well-formed ping; wait for every request's answer."""
    for probe in probes:
        server.write(probe.data)
    # A well-formed request after the batch: the server still reads and answers.
    ping = server.send(
        "textDocument/hover",
        {"textDocument": {"uri": NEVER_OPENED}, "position": {"line": 0, "character": 0}},
    )
    expected = [p.request_id for p in probes if p.request_id is not None] + [ping]
    got = server.wait(expected, timeout)
    by_id = {json.dumps(p.request_id): p for p in probes if p.request_id is not None}
    codes: collections.Counter[str] = collections.Counter()
    internal = []
    for key, msg in got.items():
        code = str(msg["error"]["code"]) if "error" in msg else "result"
        codes[code] += 1
        if code == "-32603" and key in by_id:
            internal.append((by_id[key], msg))
    missing = [
        p for p in probes if p.request_id is not None and json.dumps(p.request_id) not in got
    ]
    if json.dumps(ping) not in got:
        missing.append(Probe("ping", b"", ping))
    sent = collections.Counter(p.kind for p in probes)
    return BatchResult(sent, codes, missing, internal, server.alive)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench fuzz`."""
    p = sub.add_parser("fuzz", help="protocol fuzzing against caveat serve (stays up, answers)")
    p.add_argument("--messages", type=int, default=10_000, help="messages to send")
    p.add_argument("--batch", type=int, default=50, help="messages per batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fuzz, then print what was sent, how it was answered, and whether anything broke."""
    server = RawServer(FUZZ_SETTINGS)
    t0 = time.perf_counter()
    status = server.start()
    if status.get("state") != "ready":
        print(f"the model did not load: {status}", file=sys.stderr)
        server.close()
        return 1
    open_docs(server)
    fuzzer = Fuzzer(random.Random(args.seed))
    sent: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    missing: list[Probe] = []
    internal: list[tuple[Probe, dict[str, Any]]] = []
    count = 0
    while count < args.messages and server.alive:
        n = min(args.batch, args.messages - count)
        result = run_batch(server, [fuzzer.probe() for _ in range(n)])
        count += n + 1  # the ping too
        sent.update(result.sent)
        codes.update(result.codes)
        missing += result.missing
        internal += result.internal
        if count // 1000 != (count - n - 1) // 1000:  # a progress line every ~1000 messages
            print(f"{count} messages, {len(missing)} unanswered, alive", file=sys.stderr)
    alive = server.alive
    rss = process_rss_mb(server.proc.pid)
    code = server.close()
    report = {
        "messages": count,
        "seconds": round(time.perf_counter() - t0, 1),
        "sent": dict(sent),
        "answers": dict(codes),
        "missing": len(missing),
        "internal_errors": [
            {"kind": p.kind, "message": m["error"].get("message", "")[:200]} for p, m in internal
        ],
        "alive_at_end": alive,
        "exit_code": code,
        "rss_mb_at_end": round(rss, 1),
        "unparsed_frames": server.unparsed,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0 if alive and not missing and code == 0 else 1
