"""`caveat bench latency`: how fast ghost text appears, against llama.cpp's own llama-server.

A typing session (a real source file typed back with human-like pauses, typos and cursor
jumps) is replayed through `caveat serve` over stdio, as an editor drives it, with KV prefix
reuse on (warm) and off (cold); the same prompts then go to llama-server's `/completion`
(streamed, `n_probs`, same model and threads) with its prompt cache on and off. Requests are
closed-loop: each is answered before the next keystroke is sent, on both sides, so the engines
see the same prompts in the same order. Also measured: the decode cost of the uncertainty
records, the per-request time in healing, spans and diagnostics, and the server's memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caveat.bench.llama_server import BuildError, LlamaServer, ensure_built
from caveat.bench.typing_session import Session, StdioClient, Timed, generate, process_rss_mb
from caveat.engine.errors import ModelError
from caveat.engine.model import default_threads, resolve_model_path
from caveat.engine.runtime import KV_REUSE_ENV

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench latency`."""
    p = sub.add_parser("latency", help="time to first token vs llama-server, while typing")
    p.add_argument("--model", metavar="PATH", default=None, help="GGUF (default: embedded)")
    p.add_argument("--threads", type=int, default=0, help="threads for both engines (0 = auto)")
    p.add_argument("--file", metavar="PATH", help="source file to type (default: textwrap.py)")
    p.add_argument("--events", type=int, default=120, help="keystrokes and jumps to replay")
    p.add_argument("--seed", type=int, default=0, help="typing session seed")
    p.add_argument("--pace", type=float, default=1.0, help="scale human pauses (0 = none)")
    p.add_argument("--max-tokens", type=int, default=32, help="tokens per completion")
    p.add_argument("--memory-requests", type=int, default=500, help="requests for the RSS check")
    p.add_argument("--no-llama-server", action="store_true", help="skip the reference engine")
    p.add_argument("--no-costs", action="store_true", help="skip the in-process cost breakdown")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--plot", metavar="FILE.png", help="write latency CDFs (needs matplotlib)")
    p.set_defaults(func=run)


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between order statistics."""
    if not values:
        return math.nan
    xs = sorted(values)
    rank = (len(xs) - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Empirical CDF points: sorted values and the fraction of values at or below each."""
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p95 and mean of a sample (NaN for an empty one)."""
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": statistics.fmean(values) if values else math.nan,
    }


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either side is missing or b is zero."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "-" if math.isnan(x) else f"{x:.3g}" if abs(x) < 10 else f"{x:.0f}"
    return str(x)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats get 3 significant digits (whole numbers from 10 up)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- measuring -------------------------------------------------------------------------------


def _first(
    timed: Sequence[Timed], kinds: tuple[str, ...] = ("type", "delete", "jump")
) -> list[float]:
    return [t.first_ms for t in timed if t.kind in kinds and t.first_ms is not None]


def _tps(timed: Sequence[Timed]) -> list[float]:
    out = []
    for t in timed:
        timings = t.result.get("timings") or {}
        if len(t.result.get("tokens") or ()) >= 4 and timings.get("tokensPerSecond"):
            out.append(float(timings["tokensPerSecond"]))
    return out


def typed_ahead_hits(session: Session, timed: Sequence[Timed]) -> tuple[int, int]:
    """(keystrokes the previous completion predicted, keystrokes after a completion).

    A hit is a typed character that the ghost text shown at the same cursor began with: a
    typed-ahead cache could answer it without running the model.
    """
    hits = total = 0
    for prev_event, prev, event in zip(session.events, timed, session.events[1:], strict=False):
        if event.kind != "type" or event.offset != prev_event.cursor or not prev.result:
            continue
        total += 1
        if str(prev.result.get("text") or "").startswith(event.inserted):
            hits += 1
    return hits, total


def _server_argv() -> list[str]:
    return [sys.executable, "-m", "caveat", "serve"]


def _settings(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    return {
        "model": {"path": args.model or "", "threads": threads},
        "completion": {"maxTokens": args.max_tokens},
    }


def caveat_phase(
    args: argparse.Namespace, session: Session, threads: int, *, reuse: bool, memory: int
) -> dict[str, Any]:
    """Replay the session through a fresh `caveat serve`; optionally keep going for RSS."""
    env = dict(os.environ)
    env[KV_REUSE_ENV] = "1" if reuse else "0"
    client = StdioClient(_server_argv(), env, _settings(args, threads))
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
    with LlamaServer(binary, model, threads=threads, n_ctx=4096) as server:
        out["rss_mb_load"] = process_rss_mb(server.pid())
        server.complete(prompts[0][:64], n_predict=4)  # the first decode after load is slow
        for name, cache in (("warm", True), ("cold", False)):
            out[name] = [
                server.complete(p, n_predict=args.max_tokens, cache_prompt=cache) for p in prompts
            ]
        out["rss_mb_end"] = process_rss_mb(server.pid())
    return out


def session_prompts(session: Session) -> list[tuple[str, str]]:
    """(prefix, suffix) at the cursor after each event: what each request completes."""
    return [
        (t[: e.cursor], t[e.cursor :]) for e, t in zip(session.events, session.texts(), strict=True)
    ]


# --- report ----------------------------------------------------------------------------------


def build_report(
    session: Session,
    warm: dict[str, Any],
    cold: dict[str, Any],
    server: dict[str, Any] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """All figures and target ratios as one JSON-ready dict."""
    tw, tc = warm["timed"], cold["timed"]
    rows: dict[str, dict[str, Any]] = {
        "caveat warm (KV reuse)": {
            "first": summary(_first(tw)),
            "final": summary([t.final_ms for t in tw]),
            "tps": summary(_tps(tw)),
        },
        "caveat warm, keystrokes only": {
            "first": summary(_first(tw[1:], ("type", "delete"))),
            "final": summary([t.final_ms for t in tw[1:] if t.kind != "jump"]),
            "tps": summary(_tps(tw[1:])),
        },
        "caveat cold (no KV reuse)": {
            "first": summary(_first(tc)),
            "final": summary([t.final_ms for t in tc]),
            "tps": summary(_tps(tc)),
        },
    }
    if server is not None:
        for name in ("warm", "cold"):
            res = server[name]
            rows[f"llama-server {name} (cache_prompt={name == 'warm'})"] = {
                "first": summary([r.first_visible_ms for r in res if r.first_visible_ms]),
                "final": summary([r.total_ms for r in res]),
                "tps": summary([r.tokens_per_second for r in res if r.tokens >= 4]),
                "first_any_chunk": summary([r.first_token_ms for r in res]),
            }
    hits, total = typed_ahead_hits(session, tw)
    first = {k: v["first"]["p50"] for k, v in rows.items()}
    ls_warm = rows.get("llama-server warm (cache_prompt=True)", {})
    ls_cold = rows.get("llama-server cold (cache_prompt=False)", {})
    rss = warm["rss_mb"]
    checkpoints = warm["rss_checkpoints"]
    model_mb = extra.get("model_mb", math.nan)
    targets = {
        "warm_over_cold_first_p50": ratio(
            first["caveat warm, keystrokes only"], first["caveat cold (no KV reuse)"]
        ),
        "caveat_over_llama_server_first_p50_warm": ratio(
            first["caveat warm (KV reuse)"], ls_warm.get("first", {}).get("p50", math.nan)
        ),
        "caveat_over_llama_server_first_p50_cold": ratio(
            first["caveat cold (no KV reuse)"], ls_cold.get("first", {}).get("p50", math.nan)
        ),
        "caveat_over_llama_server_tps_p50": ratio(
            rows["caveat warm (KV reuse)"]["tps"]["p50"],
            ls_warm.get("tps", {}).get("p50", math.nan),
        ),
        "decode_full_records_over_bare": extra.get("decode", {}).get("ratio", math.nan),
        "rss_above_model_mb": rss["load"] - model_mb,
        "rss_growth_over_requests": ratio(checkpoints[-1][1], checkpoints[0][1]) - 1,
    }
    return {
        "session": {
            "events": len(session.events),
            "kinds": {
                k: sum(e.kind == k for e in session.events) for k in ("type", "delete", "jump")
            },
            "typed_ahead_hits": hits,
            "typed_ahead_candidates": total,
            "empty_completions_warm": sum(t.first_ms is None for t in tw),
        },
        "rows": rows,
        "targets": targets,
        "memory": {
            "model_mb": model_mb,
            "caveat_rss_mb": rss,
            "caveat_rss_checkpoints": checkpoints,
            "caveat_load_s": warm["load_s"],
            "llama_server_rss_mb": None
            if server is None
            else {"load": server["rss_mb_load"], "end": server["rss_mb_end"]},
        },
        **{k: v for k, v in extra.items() if k != "model_mb"},
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables."""
    rows = [
        (
            name,
            r["first"]["n"],
            r["first"]["p50"],
            r["first"]["p95"],
            r["final"]["p50"],
            r["final"]["p95"],
            r["tps"]["p50"],
        )
        for name, r in report["rows"].items()
    ]
    header = (
        "engine",
        "n",
        "first p50 ms",
        "first p95 ms",
        "final p50 ms",
        "final p95 ms",
        "tok/s",
    )
    parts = ["## Latency (time to first visible text, and to the final result)", ""]
    parts.append(markdown_table(header, rows))
    targets = [(k, v) for k, v in report["targets"].items()]
    parts += ["", "## Targets", "", markdown_table(("figure", "value"), targets)]
    if "costs" in report:
        c = report["costs"]
        parts += ["", "## Per-request cost (in process, ms)", ""]
        parts.append(
            markdown_table(("part", "p50", "p95"), [(k, v["p50"], v["p95"]) for k, v in c.items()])
        )
    mem = report["memory"]
    cps = ", ".join(f"{n}: {mb:.0f}" for n, mb in mem["caveat_rss_checkpoints"])
    parts += [
        "",
        f"Memory: model file {mem['model_mb']:.0f} MiB; caveat RSS after load "
        f"{mem['caveat_rss_mb']['load']:.0f} MiB; by requests served: {cps}.",
    ]
    s = report["session"]
    parts.append(
        f"Session: {s['events']} events {s['kinds']}; typed-ahead: {s['typed_ahead_hits']} of "
        f"{s['typed_ahead_candidates']} keystrokes matched the ghost text shown; "
        f"load average {report.get('load_average', '?')}."
    )
    return "\n".join(parts)


def measure_costs(
    args: argparse.Namespace, prompts: Sequence[tuple[str, str]], threads: int
) -> dict[str, Any]:
    """In process: decode ratio (records vs bare loop) and ms per request in each stage."""
    from pygls.workspace import PositionCodec

    from caveat.bench.decode import measure
    from caveat.engine import load_engine
    from caveat.engine.types import CompletionRequest
    from caveat.scoring.calibration import load_thresholds
    from caveat.scoring.spans import find_spans
    from caveat.server.features.diagnostics import diagnostic
    from caveat.server.positions import PositionMap
    from caveat.server.provenance import place_offer
    from caveat.server.tracking import offer_from_region, track

    engine = load_engine(args.model, n_threads=threads)
    parts: dict[str, list[float]] = {
        k: [] for k in ("healing", "prefill", "total", "spans", "tracking", "diagnostics")
    }
    try:
        thresholds = load_thresholds(engine.info.sha256)
        sample = list(prompts[:: max(1, len(prompts) // 12)])[:12]
        codec = PositionCodec(encoding="utf-16")
        for prefix, suffix in sample:
            req = CompletionRequest(
                prefix, suffix, "python", max_tokens=args.max_tokens, healing="byte"
            )
            c = engine.complete(req)
            parts["healing"].append(c.healing.ms)
            parts["prefill"].append(c.timings.prefill_ms)
            parts["total"].append(c.timings.total_ms)
            text, base = prefix + c.text + suffix, len(prefix)
            t = time.perf_counter()
            spans = find_spans(text, "python", c.records, len(prefix.encode()), thresholds)
            parts["spans"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            region = track(c.id, text, base, c.records, spans, thresholds, len(c.text))
            offer = offer_from_region(region, c.text)
            parts["tracking"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            positions = PositionMap(text, codec)
            _ = [diagnostic(span, positions) for span in place_offer(offer, base).spans]
            parts["diagnostics"].append((time.perf_counter() - t) * 1000)
        decode = measure(engine, tuple(p for p, _ in sample[:4]), 48, 2)
    finally:
        engine.close()
    return {"costs": {k: summary(v) for k, v in parts.items()}, "decode": decode}


def write_plot(report_rows: dict[str, list[float]], path: str) -> str:
    """Latency CDFs as a PNG; returns a message (matplotlib is optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"--plot: matplotlib is not installed (pip install matplotlib); {path} not written"
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, values in report_rows.items():
        if values:
            xs, ys = cdf(values)
            ax.step(xs, ys, where="post", label=f"{name} (n={len(values)})")
    ax.set_xscale("log")
    ax.set_xlabel("time to first visible text (ms, log scale)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("caveat vs llama-server: latency while typing")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"wrote {path}"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN becomes null, tuples become lists."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run every phase, then print the tables (or JSON) and write the plot."""
    threads = args.threads if args.threads > 0 else default_threads()
    source_path = Path(args.file) if args.file else Path(textwrap.__file__)
    session = generate(source_path.read_text(encoding="utf-8"), events=args.events, seed=args.seed)
    prompts = session_prompts(session)
    try:
        model = resolve_model_path(args.model)
    except ModelError as exc:
        _say(f"caveat: {exc}")
        return 2
    load_before = os.getloadavg()
    _say(f"typing {len(session.events)} events of {source_path.name}; caveat, KV reuse on ...")
    warm = caveat_phase(args, session, threads, reuse=True, memory=args.memory_requests)
    _say("caveat, KV reuse off ...")
    cold = caveat_phase(args, session, threads, reuse=False, memory=0)
    server = None
    if not args.no_llama_server:
        _say("llama-server (built on first use, several minutes) ...")
        try:
            server = llama_phase(args, [p for p, _ in prompts], threads, model)
        except BuildError as exc:
            _say(f"llama-server skipped: {exc}")
    extra: dict[str, Any] = {"model_mb": model.stat().st_size / 2**20, "threads": threads}
    if not args.no_costs:
        _say("in-process costs and decode ratio ...")
        extra.update(measure_costs(args, prompts, threads))
    extra["load_average"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    report = build_report(session, warm, cold, server, extra)
    if args.plot:
        curves = {
            "caveat cold": _first(cold["timed"]),
            "caveat warm": _first(warm["timed"]),
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
        print(json.dumps(_clean(report), indent=2))
    else:
        print(markdown(report))
    return 0
