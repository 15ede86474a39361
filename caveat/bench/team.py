"""`caveat bench team`: N editors sharing one llama-server vs N engines of their own.

Each simulated editor replays its own typing session (a different stdlib file and seed): after
each event's pause it asks for a completion at the cursor and waits for it, as an editor that
does not cancel would. Two setups on the same machine, for each N:

- **shared**: one llama-server with N slots (continuous batching), all the machine's cores;
  each editor talks to it through caveat's remote backend.
- **separate**: N processes, each with its own in-process engine and an equal share of the
  cores (at least one), as N developers each running caveat would.

Reported per N and setup: time to the first token p50/p95 (from the request, queueing
included), generated tokens per second over all editors, and resident memory of everything the
setup runs. One run; the machine's load is printed with it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from caveat.bench.latency_report import percentile
from caveat.bench.lspio import process_rss_mb
from caveat.bench.typing_session import generate
from caveat.engine.types import CompletionRequest

# Sources the editors type (one each, cycled): real code that ships with every Python.
_SOURCES = ("textwrap", "shlex", "fnmatch", "glob", "bisect", "colorsys", "keyword", "heapq")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench team`."""
    p = sub.add_parser("team", help="N editors on one llama-server vs N in-process engines")
    p.add_argument(
        "--editors", default="1,2,4,8", help="comma-separated editor counts (default 1,2,4,8)"
    )
    p.add_argument("--events", type=int, default=10, help="completions per editor (default 10)")
    p.add_argument("--max-tokens", type=int, default=24, help="tokens per completion")
    p.add_argument(
        "--pace", type=float, default=1.0, help="scale of the typing pauses (0 = back to back)"
    )
    p.add_argument("--ctx", type=int, default=2048, help="context per editor, in tokens")
    p.add_argument("--model", metavar="PATH", default=None, help="GGUF (default: embedded)")
    p.add_argument(
        "--server",
        metavar="URL",
        default=None,
        help="measure this running llama.cpp server as the shared setup (your team's box) instead"
        " of starting one here; the separate setup is then skipped",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow --server on another host")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Request:
    """One completion an editor asks for, after a pause."""

    delay_s: float
    prefix: str


@dataclass(frozen=True)
class Outcome:
    """One answered request."""

    first_ms: float
    total_ms: float
    tokens: int


def editor_requests(index: int, events: int, pace: float) -> list[Request]:
    """The completions editor `index` asks for: its own file, its own seed."""
    module = __import__(_SOURCES[index % len(_SOURCES)])
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    session = generate(source, events=events, seed=100 + index)
    out = []
    text = session.initial
    for event in session.events:
        text = event.apply(text)
        out.append(Request(event.delay_ms / 1000 * pace, text[: event.cursor]))
    return out


def _replay(complete: Any, requests: list[Request], max_tokens: int) -> list[Outcome]:
    """Ask for each completion in turn; time the first token and the end."""
    outcomes = []
    for req in requests:
        time.sleep(req.delay_s)
        t0 = time.perf_counter()
        first: list[float] = []

        def on_token(_record: Any, first: list[float] = first) -> None:
            if not first:
                first.append(time.perf_counter())

        c = complete(CompletionRequest(prefix=req.prefix, max_tokens=max_tokens), on_token)
        end = time.perf_counter()
        outcomes.append(
            Outcome(((first[0] if first else end) - t0) * 1000, (end - t0) * 1000, len(c.records))
        )
    return outcomes


def _shared(args: argparse.Namespace, n: int, work: list[list[Request]]) -> dict[str, Any]:
    from caveat.engine.model import resolve_model_path
    from caveat.engine.remote.build import ensure_built
    from caveat.engine.remote.engine import RemoteEngine
    from caveat.engine.remote.http import parse_endpoint
    from caveat.engine.remote.process import LlamaServer

    if args.server:
        endpoint = parse_endpoint(args.server, allow_remote=args.allow_remote)
        return _drive([RemoteEngine(endpoint) for _ in range(n)], args, work, rss=0.0)
    cores = os.cpu_count() or 1
    model = resolve_model_path(args.model)
    with LlamaServer(ensure_built(), model, threads=cores, n_ctx=args.ctx, parallel=n) as srv:
        engines = [RemoteEngine(parse_endpoint(srv.url)) for _ in range(n)]
        return _drive(engines, args, work, rss_of=srv.pid())


def _drive(
    engines: list[Any],
    args: argparse.Namespace,
    work: list[list[Request]],
    *,
    rss: float = 0.0,
    rss_of: int = 0,
) -> dict[str, Any]:
    """Replay each editor's requests on its own engine, all at once; summarize."""
    n = len(engines)
    engines[0].complete(CompletionRequest(prefix="x = ", max_tokens=2))  # the first decode
    results: list[list[Outcome]] = [[] for _ in range(n)]

    def editor(i: int) -> None:
        eng = engines[i]
        results[i] = _replay(lambda r, cb: eng.complete(r, on_token=cb), work[i], args.max_tokens)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=editor, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if rss_of:
        rss = process_rss_mb(rss_of)
    return _summary([o for r in results for o in r], wall, rss)


def _separate_worker(
    index: int, args: dict[str, Any], requests: list[Request], threads: int, start: Any, out: Any
) -> None:
    from caveat.engine.loader import load_engine

    engine = load_engine(args["model"], n_ctx=args["ctx"], n_threads=threads)
    engine.complete(CompletionRequest(prefix="x = ", max_tokens=2))
    start.wait()
    t0 = time.perf_counter()
    outcomes = _replay(lambda r, cb: engine.complete(r, on_token=cb), requests, args["max_tokens"])
    out.put(
        (
            index,
            [asdict(o) for o in outcomes],
            time.perf_counter() - t0,
            process_rss_mb(os.getpid()),
        )
    )


def _separate(args: argparse.Namespace, n: int, work: list[list[Request]]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // n)
    start = ctx.Barrier(n + 1)
    out = ctx.Queue()
    shared = {"model": args.model, "ctx": args.ctx, "max_tokens": args.max_tokens}
    procs = [
        ctx.Process(target=_separate_worker, args=(i, shared, work[i], threads, start, out))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    got = [out.get() for _ in range(n)]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    outcomes = [Outcome(**o) for _, done, _, _ in got for o in done]
    return _summary(outcomes, wall, sum(r for *_, r in got))


def _summary(outcomes: list[Outcome], wall: float, rss: float) -> dict[str, Any]:
    firsts = [o.first_ms for o in outcomes]
    return {
        "requests": len(outcomes),
        "first_ms_p50": percentile(firsts, 50),
        "first_ms_p95": percentile(firsts, 95),
        "tokens_per_s": sum(o.tokens for o in outcomes) / wall if wall > 0 else 0.0,
        "wall_s": wall,
        "rss_mb": rss,
    }


def run(args: argparse.Namespace) -> int:
    """Both setups for each editor count; print the table (or JSON)."""
    counts = [int(x) for x in args.editors.split(",") if x.strip()]
    if not counts or min(counts) < 1 or max(counts) > 64:
        print("caveat: --editors takes counts from 1 to 64, e.g. 1,2,4,8", file=sys.stderr)
        return 2
    work = [editor_requests(i, args.events, args.pace) for i in range(max(counts))]
    load = os.getloadavg()
    rows = []
    for n in counts:
        setups = (
            (("shared", _shared),)
            if args.server
            else (("shared", _shared), ("separate", _separate))
        )
        for name, fn in setups:
            print(f"{n} editor(s), {name} ...", file=sys.stderr, flush=True)
            rows.append({"editors": n, "setup": name, **fn(args, n, work[:n])})
    if args.json:
        print(json.dumps({"rows": rows, "load_before": load, "cores": os.cpu_count()}))
        return 0
    print(f"\n{os.cpu_count()} cores, load average before: {load[0]:.2f}")
    print("editors  setup     first p50  first p95   tok/s   RSS MB")
    for r in rows:
        print(
            f"{r['editors']:>7}  {r['setup']:<8}  {r['first_ms_p50']:>7.0f}ms"
            f"  {r['first_ms_p95']:>7.0f}ms  {r['tokens_per_s']:>6.1f}  {r['rss_mb']:>7.0f}"
        )
    return 0
