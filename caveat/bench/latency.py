"""`caveat bench latency`: how fast ghost text appears, against llama.cpp's own llama-server.

A typing session (a real source file typed back with human-like pauses, typos and cursor
jumps) is replayed through `caveat serve` over stdio, as an editor drives it: with KV prefix
reuse and the typed-ahead cache on (the defaults), with the cache off, and with both off
(cold); the same prompts then go to llama-server's `/completion`
(streamed, `n_probs`, same model and threads) with its prompt cache on and off. Requests are
closed-loop: each is answered before the next keystroke is sent, on both sides, so the engines
see the same prompts in the same order. Also measured: the decode cost of the uncertainty
records, the per-request time in healing, spans and diagnostics, and the server's memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caveat.bench.latency_report import (
    PLOT_MISSING,
    build_report,
    can_plot,
    first_ms,
    json_safe,
    markdown,
    summary,
    write_plot,
)
from caveat.bench.llama_server import timed_completion
from caveat.bench.lspio import process_rss_mb
from caveat.bench.typing_session import Session, StdioClient, generate
from caveat.engine.errors import ModelError
from caveat.engine.model import default_threads, resolve_model_path
from caveat.engine.remote.build import BuildError, ensure_built
from caveat.engine.remote.process import LlamaServer
from caveat.engine.runtime import KV_REUSE_ENV

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench latency`."""
    p = sub.add_parser("latency", help="time to first token vs llama-server, while typing")
    p.add_argument("--model", metavar="PATH", default=None, help="GGUF (default: embedded)")
    p.add_argument("--threads", type=int, default=0, help="threads for both engines (0 = auto)")
    p.add_argument("--file", metavar="PATH", help="source file to type (default: textwrap.py)")
    p.add_argument(
        "--dense",
        action="store_true",
        help="type into a generated 60 KB file of numeric rows instead (the dense-file session:"
        " its prompt window must not slide with every keystroke)",
    )
    p.add_argument("--events", type=int, default=120, help="keystrokes and jumps to replay")
    p.add_argument("--seed", type=int, default=0, help="typing session seed")
    p.add_argument("--pace", type=float, default=1.0, help="scale human pauses (0 = none)")
    p.add_argument("--max-tokens", type=int, default=32, help="tokens per completion")
    p.add_argument(
        "--healing", choices=("byte", "token", "none"), default="byte", help="caveat's healing"
    )
    p.add_argument("--memory-requests", type=int, default=500, help="requests for the RSS check")
    p.add_argument("--no-llama-server", action="store_true", help="skip the reference engine")
    p.add_argument("--no-costs", action="store_true", help="skip the in-process cost breakdown")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--plot", metavar="FILE.png", help="write latency CDFs (needs matplotlib)")
    p.set_defaults(func=run)


def dense_source(size: int = 60_000, seed: int = 7) -> str:
    """Rows of numbers, about `size` characters: many tokens per character (issue #22 item 7)."""
    import random

    rng = random.Random(seed)
    rows: list[str] = []
    length = 0
    while length < size:
        rows.append(", ".join(f"{rng.random():.6f}" for _ in range(8)) + ",\n")
        length += len(rows[-1])
    return "DATA = [\n" + "".join(rows) + "]\n"


def _server_argv() -> list[str]:
    return [sys.executable, "-m", "caveat", "serve"]


def _settings(args: argparse.Namespace, threads: int, cache: bool) -> dict[str, Any]:
    return {
        "model": {"path": args.model or "", "threads": threads},
        "completion": {
            "maxTokens": args.max_tokens,
            "healing": args.healing,
            "typedAheadCache": cache,
        },
    }


def caveat_phase(
    args: argparse.Namespace,
    session: Session,
    threads: int,
    *,
    reuse: bool,
    cache: bool,
    memory: int,
) -> dict[str, Any]:
    """Replay the session through a fresh `caveat serve`; optionally keep going for RSS."""
    env = dict(os.environ)
    env[KV_REUSE_ENV] = "1" if reuse else "0"
    client = StdioClient(_server_argv(), env, _settings(args, threads, cache))
    try:
        load_s = client.start()
        rss = {"load": client.rss_mb()}
        timed = client.replay(session, "file:///bench/session.py", pace=args.pace)
        rss["session"] = client.rss_mb()
        done, checkpoints = len(timed), [(len(timed), rss["session"])]
        k = 0
        while done < memory:
            k += 1
            done += len(client.replay(session, f"file:///bench/memory{k}.py", pace=0.0))
            checkpoints.append((done, client.rss_mb()))
    finally:
        client.close()
    return {"load_s": load_s, "rss_mb": rss, "rss_checkpoints": checkpoints, "timed": timed}


def llama_phase(
    args: argparse.Namespace, prompts: Sequence[str], threads: int, model: Path
) -> dict[str, Any]:
    """The same prompts through llama-server, prompt cache on (warm) then off (cold)."""
    binary = ensure_built()
    out: dict[str, Any] = {}
    # llama-server as shipped (flash attention on): the reference caveat is measured against.
    with LlamaServer(binary, model, threads=threads, n_ctx=4096, flash_attn=True) as server:
        out["rss_mb_load"] = process_rss_mb(server.pid())
        timed_completion(
            server, prompts[0][:64], n_predict=4
        )  # the first decode after load is slow
        for name, cache in (("warm", True), ("cold", False)):
            out[name] = [
                timed_completion(server, p, n_predict=args.max_tokens, cache_prompt=cache)
                for p in prompts
            ]
        out["rss_mb_end"] = process_rss_mb(server.pid())
    return out


def session_prompts(session: Session) -> list[tuple[str, str]]:
    """(prefix, suffix) at the cursor after each event: what each request completes."""
    return [
        (t[: e.cursor], t[e.cursor :]) for e, t in zip(session.events, session.texts(), strict=True)
    ]


def measure_costs(
    args: argparse.Namespace, prompts: Sequence[tuple[str, str]], threads: int
) -> dict[str, Any]:
    """In process: decode ratio (records vs bare loop) and ms per request in each stage."""
    from pygls.workspace import PositionCodec

    from caveat.annotate.provenance import place_offer
    from caveat.annotate.regions import annotate, offer_from_region
    from caveat.bench.decode import measure
    from caveat.engine.loader import load_engine
    from caveat.engine.types import CompletionRequest
    from caveat.scoring.calibration import load_thresholds
    from caveat.server.features.diagnostics import diagnostic
    from caveat.server.positions import PositionMap

    engine = load_engine(args.model, n_threads=threads)
    parts: dict[str, list[float]] = {
        k: []
        for k in (
            "healing",
            "prefill",
            "total",
            "spans",
            "tracking",
            "diagnostics",
            "healing_passes",
            "forward_passes",
            "prompt_tokens_evaluated",
        )
    }
    try:
        thresholds = load_thresholds(engine.info.sha256)
        sample = list(prompts[:: max(1, len(prompts) // 12)])[:12]
        codec = PositionCodec(encoding="utf-16")
        for prefix, suffix in sample:
            req = CompletionRequest(
                prefix, suffix, "python", max_tokens=args.max_tokens, healing=args.healing
            )
            passes = engine.stats.forward_passes
            c = engine.complete(req)
            # Counts, unlike times, do not depend on how busy the machine is.
            parts["forward_passes"].append(float(engine.stats.forward_passes - passes))
            parts["healing_passes"].append(float(c.healing.extra_passes))
            parts["prompt_tokens_evaluated"].append(float(c.prompt_tokens_evaluated))
            parts["healing"].append(c.healing.ms)
            parts["prefill"].append(c.timings.prefill_ms)
            parts["total"].append(c.timings.total_ms)
            text, base = prefix + c.text + suffix, len(prefix)
            t = time.perf_counter()
            region = annotate(
                c.id, text, base, c.records, "python", thresholds, len(c.text), generated=True
            )
            parts["spans"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            offer = offer_from_region(region, c.text)
            parts["tracking"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            positions = PositionMap(text, codec)
            _ = [diagnostic(span, positions) for span in place_offer(offer, base).spans]
            parts["diagnostics"].append((time.perf_counter() - t) * 1000)
        # Prompt tails: the ratio is about decode steps, long prefills would only add waiting.
        decode = measure(engine, tuple(p[-1200:] for p, _ in sample[:3]), args.max_tokens, 2)
    finally:
        engine.close()
    return {"costs": {k: summary(v) for k, v in parts.items()}, "decode": decode}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run every phase, then print the tables (or JSON) and write the plot."""
    if args.plot and not can_plot():
        # Say so now, not after the half hour the phases take.
        _say(f"caveat: {PLOT_MISSING}")
        return 2
    threads = args.threads if args.threads > 0 else default_threads()
    source_path = Path(args.file) if args.file else Path(textwrap.__file__)
    source = dense_source() if args.dense else source_path.read_text(encoding="utf-8")
    if args.dense:
        source_path = Path("dense-60KB.py")
    session = generate(source, events=args.events, seed=args.seed)
    prompts = session_prompts(session)
    try:
        model = resolve_model_path(args.model)
    except ModelError as exc:
        _say(f"caveat: {exc}")
        return 2
    load_before = os.getloadavg()
    _say(
        f"typing {len(session.events)} events of {source_path.name}; "
        "caveat, KV reuse and typed-ahead cache on ..."
    )
    warm = caveat_phase(args, session, threads, reuse=True, cache=True, memory=args.memory_requests)
    _say("caveat, typed-ahead cache off ...")
    uncached = caveat_phase(args, session, threads, reuse=True, cache=False, memory=0)
    _say("caveat, KV reuse and typed-ahead cache off ...")
    cold = caveat_phase(args, session, threads, reuse=False, cache=False, memory=0)
    server = None
    if not args.no_llama_server:
        _say("llama-server (built on first use, several minutes) ...")
        try:
            server = llama_phase(args, [p for p, _ in prompts], threads, model)
        except BuildError as exc:
            _say(f"llama-server skipped: {exc}")
    extra: dict[str, Any] = {
        "model_mb": model.stat().st_size / 2**20,
        "settings": {
            "threads": threads,
            "max_tokens": args.max_tokens,
            "healing": args.healing,
            "file": source_path.name,
            "pace": args.pace,
        },
    }
    if not args.no_costs:
        _say("in-process costs and decode ratio ...")
        extra.update(measure_costs(args, prompts, threads))
    extra["load_average"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    report = build_report(session, warm, uncached, cold, server, extra)
    if args.plot:
        curves = {
            "caveat cold": first_ms(cold["timed"]),
            "caveat warm": first_ms(uncached["timed"]),
            "caveat warm + typed-ahead cache": first_ms(warm["timed"]),
        }
        if server is not None:
            curves["llama-server (cache_prompt)"] = [
                r.first_visible_ms for r in server["warm"] if r.first_visible_ms
            ]
            curves["llama-server cold"] = [
                r.first_visible_ms for r in server["cold"] if r.first_visible_ms
            ]
        _say(write_plot(curves, args.plot))
    if args.json:
        print(json.dumps(json_safe(report), indent=2))
    else:
        print(markdown(report))
    return 0
