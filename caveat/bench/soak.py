"""`caveat bench soak`: thousands of completions with random edits through `caveat serve`.

A long editing session in one server process with the real model: random insertions and
deletions anywhere in a real source file, a completion after each, and every few requests the
completion inserted and accepted (so diagnostics exist and edits have spans to collide with).
Checked: resident memory grows at most 5% between the end of warm-up and the end; the thread
count does not grow; the server stays up and answers every request; and no diagnostic ever sits
on text that changed since it was first published (an edit that touches a span must remove it).
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from caveat.bench.fuzz import RawServer
from caveat.bench.lspio import process_rss_mb

URI = "file:///caveat-soak/session.py"
_SNIPPETS = ("x", "_", " ", "(", ")", "\n", "    ", "return ", "self.", "0", "é", "😀", ", ")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench soak`."""
    p = sub.add_parser("soak", help="long session of random edits and completions (memory, leaks)")
    p.add_argument("--requests", type=int, default=2000, help="completion requests to send")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens per completion")
    p.add_argument("--threads", type=int, default=1, help="model threads")
    p.add_argument("--accept-every", type=int, default=5, help="accept every Nth completion")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _threads(pid: int) -> int:
    """The number of threads of a process (0 when unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _position(text: str, offset: int) -> dict[str, int]:
    """LSP position (UTF-16 columns) of a character offset."""
    before = text[:offset]
    line = before.count("\n")
    column = before[before.rfind("\n") + 1 :]
    return {"line": line, "character": len(column.encode("utf-16-le")) // 2}


def _offset(text: str, position: dict[str, int]) -> int:
    """Character offset of an LSP position (UTF-16 columns)."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: position["line"]])
    units = lines[position["line"]].encode("utf-16-le")[: position["character"] * 2]
    return start + len(units.decode("utf-16-le"))


class Session:
    """The client's copy of the document, and the diagnostics it has seen."""

    def __init__(self, server: RawServer, text: str) -> None:
        """Open `text` in the server."""
        self.server = server
        self.text = text
        self.version = 1
        self.first_seen: dict[str, str] = {}  # spanId -> the text it covered when published
        self.stale: list[dict[str, Any]] = []
        item = {"uri": URI, "languageId": "python", "version": 1, "text": text}
        server.send("textDocument/didOpen", {"textDocument": item}, request=False)

    def edit(self, start: int, end: int, new: str) -> None:
        """Replace text[start:end] by `new`, as an editor sends it."""
        change = {
            "range": {"start": _position(self.text, start), "end": _position(self.text, end)},
            "text": new,
        }
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.server.send(
            "textDocument/didChange",
            {"textDocument": {"uri": URI, "version": self.version}, "contentChanges": [change]},
            request=False,
        )

    def check_diagnostics(self) -> int:
        """Compare the latest diagnostics (if for this version) with what they first covered."""
        params = self.server.diagnostics.get(URI)
        if not params or params.get("version") != self.version:
            return 0
        for diag in params["diagnostics"]:
            rng = diag["range"]
            covered = self.text[_offset(self.text, rng["start"]) : _offset(self.text, rng["end"])]
            key = str((diag.get("data") or {}).get("spanId"))
            first = self.first_seen.setdefault(key, covered)
            if covered != first:
                self.stale.append({"span": key, "was": first, "now": covered})
        return len(params["diagnostics"])


def _source() -> str:
    """A real source file to edit: the first 60 lines of the standard textwrap module."""
    lines = inspect.getsource(textwrap).splitlines(True)
    return "".join(lines[:60])


def _percentile(values: list[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, round((len(xs) - 1) * q / 100))]


def run(args: argparse.Namespace) -> int:
    """Run the soak and print its figures; exit 1 if a check failed."""
    rng = random.Random(args.seed)
    settings = {
        "model": {"threads": args.threads, "contextLength": 2048},
        "completion": {"maxTokens": args.max_tokens, "debounceMs": 0},
    }
    server = RawServer(settings)
    t0 = time.perf_counter()
    if server.start().get("state") != "ready":
        print("the model did not load", file=sys.stderr)
        server.close()
        return 1
    session = Session(server, _source())
    pid = server.proc.pid
    latencies: list[float] = []
    failures: list[str] = []
    warmup = min(max(10, args.requests // 10), args.requests - 1)
    rss_start = threads_start = 0.0
    accepted = max_diagnostics = 0
    # RSS every tenth of the run: tells growth that levels off from growth that keeps going.
    every = max(1, args.requests // 10)
    curve: list[tuple[int, float]] = []
    for n in range(args.requests):
        if n == warmup:
            rss_start, threads_start = process_rss_mb(pid), _threads(pid)
        if n % every == 0:
            curve.append((n, round(process_rss_mb(pid), 1)))
        text = session.text
        start = rng.randrange(len(text) + 1)
        if rng.random() < 0.3 and len(text) > 200:
            session.edit(start, min(len(text), start + rng.randrange(1, 12)), "")
        else:
            session.edit(start, start, rng.choice(_SNIPPETS))
        # Mostly where the edit was, as when typing (the KV cache is reused); now and then a jump.
        cursor = start if rng.random() < 0.85 else rng.randrange(len(session.text) + 1)
        cursor = min(cursor, len(session.text))
        pos = _position(session.text, cursor)
        began = time.perf_counter()
        try:
            reply = server.call("caveat/complete", {"textDocument": {"uri": URI}, "position": pos})
        except TimeoutError as exc:
            failures.append(str(exc))
            break
        latencies.append((time.perf_counter() - began) * 1000)
        if "error" in reply:
            failures.append(json.dumps(reply["error"])[:200])
            continue
        result = reply["result"]
        if result["text"] and n % args.accept_every == 0:
            session.edit(cursor, cursor, result["text"])
            arguments = [{"completionId": result["id"]}]
            server.call(
                "workspace/executeCommand", {"command": "caveat.accept", "arguments": arguments}
            )
            accepted += 1
        max_diagnostics = max(max_diagnostics, session.check_diagnostics())
        if len(session.text) > 6_000:  # keep the prompt size steady over a long run
            session.edit(len(session.text) // 2, len(session.text), "")
    rss_end, threads_end = process_rss_mb(pid), _threads(pid)
    alive = server.alive
    code = server.close()
    quarter = max(1, len(latencies) // 4)
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else float("nan")
    report = {
        "requests": len(latencies),
        "accepted": accepted,
        "seconds": round(time.perf_counter() - t0, 1),
        "rss_mb_after_warmup": round(rss_start, 1),
        "rss_mb_end": round(rss_end, 1),
        "rss_growth_pct": round(growth, 2),
        "rss_mb_curve": curve,
        "threads_after_warmup": threads_start,
        "threads_end": threads_end,
        "p50_ms": round(_percentile(latencies, 50), 1),
        "p95_ms_first_quarter": round(_percentile(latencies[:quarter], 95), 1),
        "p95_ms_last_quarter": round(_percentile(latencies[-quarter:], 95), 1),
        "max_diagnostics": max_diagnostics,
        "stale_diagnostics": session.stale[:5],
        "failures": failures[:5],
        "alive_at_end": alive,
        "exit_code": code,
    }
    ok = (
        alive
        and code == 0
        and not failures
        and not session.stale
        and growth <= 5.0
        and threads_end <= threads_start
    )
    report["ok"] = ok
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0 if ok else 1
