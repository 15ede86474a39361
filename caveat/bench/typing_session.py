"""A replayable typing session: a real source file typed the way a person types it.

The document opens with a stretch of the file missing; the session types that stretch back
character by character with human-like pauses (longer at word and line ends, an occasional
think), makes typos and deletes them, lets the editor insert the indentation after a newline,
and now and then jumps the cursor to an earlier line and back. Every event is a moment where an
editor asks for a completion. Deterministic for a given seed.

`StdioClient` replays a session against `caveat serve` over stdio the way an editor does
(didOpen, incremental didChange, `caveat/complete` with a partialResultToken), times it and
tells answers the model decoded from typed-ahead ones.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from lsprotocol.types import PositionEncodingKind
from pygls.workspace import PositionCodec

from caveat.bench.lspio import process_rss_mb, read_frame
from caveat.server.positions import PositionMap

EventKind = Literal["type", "delete", "jump"]
# emit(kind, offset, removed, inserted, new_cursor): record one event in the session builder.
_Emit = Callable[[EventKind, int, int, str, int], None]

# Keys next to each other on a QWERTY keyboard, for believable typos.
_NEIGHBOURS = {
    "a": "sq",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k;",
    "m": "n,",
    "n": "bm",
    "o": "ip",
    "p": "o[",
    "q": "wa",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "x": "zc",
    "y": "tu",
    "z": "xa",
}


@dataclass(frozen=True)
class Event:
    """One editor event: replace `removed` chars at `offset` by `inserted`, then complete.

    `delay_ms` is the pause before the event; `cursor` is the char offset of the cursor after
    it (where the completion is requested). A jump changes no text.
    """

    kind: EventKind
    delay_ms: float
    offset: int
    removed: int
    inserted: str
    cursor: int

    def apply(self, text: str) -> str:
        """The document text after this event."""
        return text[: self.offset] + self.inserted + text[self.offset + self.removed :]


@dataclass(frozen=True)
class Session:
    """The text at didOpen and the events that follow."""

    initial: str
    events: tuple[Event, ...]

    def texts(self) -> list[str]:
        """The document text after each event."""
        out = []
        text = self.initial
        for event in self.events:
            text = event.apply(text)
            out.append(text)
        return out


class _Typist:
    """Draws human-like pauses (milliseconds) from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pause(self, previous: str) -> float:
        """Pause before the next key, given the character typed before it."""
        # Median ~110 ms per key (about 55 words per minute), heavy right tail.
        ms = self.rng.lognormvariate(4.7, 0.35)
        if previous in " ([{,.:=":
            ms += self.rng.uniform(40, 200)
        if previous == "\n":
            ms += self.rng.uniform(250, 900)
        if self.rng.random() < 0.02:
            ms += self.rng.uniform(1200, 3500)  # thinking
        return ms


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def generate(
    source: str,
    *,
    events: int = 120,
    seed: int = 0,
    start_fraction: float = 0.35,
    typo_rate: float = 0.03,
    jump_rate: float = 0.04,
) -> Session:
    """A session that types back part of `source` starting near `start_fraction` of it."""
    if not source.strip():
        raise ValueError("the source file is empty")
    rng = random.Random(seed)
    typist = _Typist(rng)
    start = _line_start(source, int(len(source) * start_fraction))
    while start < len(source) and source[start] in " \t":
        start += 1  # the editor keeps the indentation; typing starts at the code
    # Find how much of the file `events` keystrokes cover (indentation comes with newlines).
    end = start
    budget = events
    while end < len(source) and budget > 0:
        if source[end] == "\n":
            end += 1
            while end < len(source) and source[end] in " \t":
                end += 1
        else:
            end += 1
        budget -= 1
    initial = source[:start] + source[end:]
    out: list[Event] = []
    text = initial
    cursor = start
    i = start
    previous = "\n"

    def emit(kind: EventKind, offset: int, removed: int, inserted: str, new_cursor: int) -> None:
        nonlocal text, cursor, previous
        event = Event(kind, typist.pause(previous), offset, removed, inserted, new_cursor)
        text = event.apply(text)
        cursor = new_cursor
        previous = inserted[-1:] if inserted else previous
        out.append(event)

    while i < end and len(out) < events:
        ch = source[i]
        if ch == "\n":
            j = i + 1
            while j < end and source[j] in " \t":
                j += 1
            # The editor auto-indents: the newline and the indentation arrive together.
            emit("type", cursor, 0, source[i:j], cursor + (j - i))
            i = j
            if rng.random() < jump_rate * 4 and len(out) < events - 2:
                _jump_and_back(rng, text, cursor, emit)
            continue
        neighbours = _NEIGHBOURS.get(ch.lower())
        if neighbours and rng.random() < typo_rate and len(out) < events - 2:
            wrong = rng.choice(neighbours)
            emit("type", cursor, 0, wrong, cursor + 1)
            emit("delete", cursor - 1, 1, "", cursor - 1)
        emit("type", cursor, 0, ch, cursor + 1)
        i += 1
    return Session(initial, tuple(out[:events]))


def _jump_and_back(rng: random.Random, text: str, cursor: int, emit: _Emit) -> None:
    """Move the cursor to the end of an earlier line, then back (no text changes)."""
    ends = [k for k in range(1, cursor) if text[k] == "\n" and text[k - 1] not in " \n"]
    if not ends:
        return
    target = rng.choice(ends)
    emit("jump", target, 0, "", target)
    emit("jump", cursor, 0, "", cursor)


def lsp_position(text: str, offset: int) -> dict[str, int]:
    """The LSP position (UTF-16 columns) of char `offset` in `text`."""
    position = PositionMap(text, PositionCodec(PositionEncodingKind.Utf16)).position(offset)
    return {"line": position.line, "character": position.character}


@dataclass(frozen=True)
class Timed:
    """One replayed request: how long until the first streamed text and the final result.

    `model_ran` is False for an answer the server gave without the model (typed ahead): only a
    model run is followed by a `caveat/status` with its latency, sent before the answer.
    """

    kind: EventKind
    first_ms: float | None  # None: nothing visible was streamed (empty completion)
    final_ms: float
    result: dict[str, Any]
    model_ran: bool = True


class StdioClient:
    """A minimal LSP client over a server's stdin/stdout, timing what comes back.

    A reader thread parses frames; responses wake the waiting request; `$/progress` values are
    timestamped per token; server-to-client requests get a plain answer (the settings for
    `workspace/configuration`, null otherwise), as an editor would give.
    """

    def __init__(self, argv: list[str], env: dict[str, str], settings: dict[str, Any]) -> None:
        self.settings = settings
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._write = threading.Lock()  # the reader thread answers server requests too
        self._responses: dict[int, tuple[float, dict[str, Any]]] = {}
        self.partials: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.statuses: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name="lsp-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while (body := read_frame(stream)) is not None:
            self._dispatch(time.perf_counter(), json.loads(body))
        with self._cond:
            self._cond.notify_all()

    def _dispatch(self, at: float, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            with self._cond:
                self._responses[int(msg["id"])] = (at, msg)
                self._cond.notify_all()
        elif "id" in msg:
            result: Any = None
            if method == "workspace/configuration":
                result = [self.settings for _ in msg["params"]["items"]]
            self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
        elif method == "$/progress":
            token = str(msg["params"]["token"])
            with self._cond:
                self.partials.setdefault(token, []).append((at, msg["params"]["value"]))
        elif method == "caveat/status":
            with self._cond:
                self.statuses.append(msg["params"])
                self._cond.notify_all()

    def _send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        stdin = self.proc.stdin
        assert stdin is not None
        with self._write:
            stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 300.0) -> tuple[float, Any]:
        """Send a request and wait for its answer: (arrival time, result)."""
        rid = next(self._ids)
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        with self._cond:
            if not self._cond.wait_for(
                lambda: rid in self._responses or self.proc.poll() is not None, timeout
            ):
                raise TimeoutError(f"no answer to {method} in {timeout:.0f}s")
            if rid not in self._responses:
                raise RuntimeError(f"the server exited while answering {method}")
            at, msg = self._responses.pop(rid)
        if "error" in msg:
            raise RuntimeError(f"{method} failed: {msg['error']}")
        return at, msg.get("result")

    def start(self, timeout: float = 600.0) -> float:
        """initialize + initialized; wait for the model; return seconds until it was ready."""
        t0 = time.perf_counter()
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {
                    "workspace": {"configuration": True},
                    "general": {"positionEncodings": ["utf-16"]},
                    "window": {"workDoneProgress": True},
                },
                "initializationOptions": self.settings,
            },
        )
        self.notify("initialized", {})
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(s.get("state") in ("ready", "error") for s in self.statuses), timeout
            )
        states = [s for s in self.statuses if s.get("state") in ("ready", "error")]
        if not ok or states[-1]["state"] != "ready":
            message = states[-1].get("message", "") if states else "timed out"
            raise RuntimeError(f"the server did not load the model: {message}")
        return time.perf_counter() - t0

    def close(self) -> None:
        """shutdown + exit, then make sure the process is gone."""
        try:
            self.request("shutdown", None, timeout=30)
            self.notify("exit", None)
            self.proc.wait(timeout=15)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def rss_mb(self) -> float:
        """Resident memory of the server process in MiB (Linux /proc)."""
        return process_rss_mb(self.proc.pid)

    def model_runs(self) -> int:
        """Completions the model has decoded so far (each sends a status with its latency)."""
        return sum("lastLatencyMs" in s for s in self.statuses)

    def replay(self, session: Session, uri: str, *, pace: float = 1.0) -> list[Timed]:
        """Open `uri`, play the session (closed loop: each request answered before the next)."""
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": session.initial,
                }
            },
        )
        text, version, out = session.initial, 1, []
        due = time.perf_counter()
        for n, event in enumerate(session.events):
            due += event.delay_ms / 1000 * pace
            time.sleep(max(0.0, due - time.perf_counter()))
            if event.removed or event.inserted:
                start = lsp_position(text, event.offset)
                end = lsp_position(text, event.offset + event.removed)
                text = event.apply(text)
                version += 1
                self.notify(
                    "textDocument/didChange",
                    {
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [
                            {"range": {"start": start, "end": end}, "text": event.inserted}
                        ],
                    },
                )
            token = f"{uri}#{n}"
            with self._cond:
                runs = self.model_runs()
            t0 = time.perf_counter()
            at, result = self.request(
                "caveat/complete",
                {
                    "textDocument": {"uri": uri},
                    "position": lsp_position(text, event.cursor),
                    "partialResultToken": token,
                },
            )
            with self._cond:
                chunks = self.partials.pop(token, [])
                ran = self.model_runs() > runs
            first = (chunks[0][0] - t0) * 1000 if chunks else None
            out.append(Timed(event.kind, first, (at - t0) * 1000, result, ran))
            due = max(due, time.perf_counter())  # closed loop: pauses start after the answer
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        return out
