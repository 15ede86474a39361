"""The latency benchmark's figures: percentiles, CDFs, target ratios, tables, JSON and plot.

Pure functions over what `caveat.bench.latency` measured; nothing here runs a model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from caveat.bench.typing_session import Session, Timed

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


def first_ms(
    timed: Sequence[Timed], kinds: tuple[str, ...] = ("type", "delete", "jump")
) -> list[float]:
    return [t.first_ms for t in timed if t.kind in kinds and t.first_ms is not None]


def tokens_per_second(timed: Sequence[Timed]) -> list[float]:
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


# --- report ----------------------------------------------------------------------------------


def _row(timed: Sequence[Timed], *, keystrokes_only: bool = False) -> dict[str, Any]:
    """First/final latency and decode speed of one replay (keystrokes: no jumps, no opening)."""
    if keystrokes_only:
        timed = [t for t in timed[1:] if t.kind != "jump"]
    return {
        "first": summary(first_ms(timed)),
        "final": summary([t.final_ms for t in timed]),
        "tps": summary(tokens_per_second(timed)),
    }


#: Row names. Rows without "typed-ahead cache" ran with `completion.typedAheadCache: false`.
CACHED = "caveat warm + typed-ahead cache"
CACHED_KEYS = "caveat warm + typed-ahead cache, keystrokes only"
WARM = "caveat warm (KV reuse)"
WARM_KEYS = "caveat warm, keystrokes only"
COLD = "caveat cold (no KV reuse)"


def build_report(
    session: Session,
    warm: dict[str, Any],
    uncached: dict[str, Any],
    cold: dict[str, Any],
    server: dict[str, Any] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """All figures and target ratios as one JSON-ready dict.

    `warm` ran with KV reuse and the typed-ahead cache, `uncached` with KV reuse only, `cold`
    with neither; `server` is llama-server's replay of the same prompts (None if skipped).
    """
    tw, tu, tc = warm["timed"], uncached["timed"], cold["timed"]
    rows: dict[str, dict[str, Any]] = {
        CACHED: _row(tw),
        CACHED_KEYS: _row(tw, keystrokes_only=True),
        WARM: _row(tu),
        WARM_KEYS: _row(tu, keystrokes_only=True),
        COLD: _row(tc),
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
    final = {k: v["final"]["p50"] for k, v in rows.items()}
    ls_warm = rows.get("llama-server warm (cache_prompt=True)", {})
    ls_cold = rows.get("llama-server cold (cache_prompt=False)", {})
    rss = warm["rss_mb"]
    checkpoints = warm["rss_checkpoints"]
    model_mb = extra.get("model_mb", math.nan)
    targets = {
        "warm_over_cold_first_p50": ratio(first[WARM_KEYS], first[COLD]),
        "cache_over_no_cache_first_p50": ratio(first[CACHED_KEYS], first[WARM_KEYS]),
        "cache_over_no_cache_final_p50": ratio(final[CACHED_KEYS], final[WARM_KEYS]),
        # Engine against engine: llama-server has no typed-ahead cache.
        "caveat_over_llama_server_first_p50_warm": ratio(
            first[WARM], ls_warm.get("first", {}).get("p50", math.nan)
        ),
        "caveat_over_llama_server_first_p50_cold": ratio(
            first[COLD], ls_cold.get("first", {}).get("p50", math.nan)
        ),
        "caveat_over_llama_server_tps_p50": ratio(
            rows[WARM]["tps"]["p50"], ls_warm.get("tps", {}).get("p50", math.nan)
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
            # Requests the server answered without the model; with the cache off, none should be.
            "typed_ahead_answers": sum(not t.model_ran for t in tw),
            "typed_ahead_answers_cache_off": sum(not t.model_ran for t in (*tu, *tc)),
            "empty_completions_warm": sum(t.first_ms is None for t in tw),
            # The session's first request: a document just opened, nothing of it cached yet.
            "first_request_first_ms": tw[0].first_ms if tw else None,
        },
        "samples_final_ms": {
            "caveat warm + typed-ahead cache": [t.final_ms for t in tw],
            "caveat warm": [t.final_ms for t in tu],
            "caveat cold": [t.final_ms for t in tc],
        },
        "samples_first_ms": {
            "caveat warm + typed-ahead cache": [t.first_ms for t in tw],
            "caveat warm": [t.first_ms for t in tu],
            "caveat cold": [t.first_ms for t in tc],
            **(
                {
                    f"llama-server {name}": [r.first_visible_ms for r in server[name]]
                    for name in ("warm", "cold")
                }
                if server is not None
                else {}
            ),
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
    parts += [
        "",
        'Rows without "typed-ahead cache" ran with `completion.typedAheadCache: false`; '
        '"keystrokes only" leaves out cursor jumps and the session\'s first request.',
    ]
    targets = [(k, v) for k, v in report["targets"].items()]
    parts += ["", "## Targets", "", markdown_table(("figure", "value"), targets)]
    if "costs" in report:
        c = report["costs"]
        parts += ["", "## Per-request cost (in process; ms, or counts)", ""]
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
        f"{s['typed_ahead_candidates']} keystrokes matched the ghost text shown, "
        f"{s['typed_ahead_answers']} requests were answered without the model "
        f"({s['typed_ahead_answers_cache_off']} with the cache off); "
        f"settings {report.get('settings')}; load average (1/5/15 min, before then after) "
        f"{report.get('load_average', '?')}."
    )
    return "\n".join(parts)


PLOT_MISSING = (
    "--plot needs matplotlib: pip install matplotlib (from a checkout: pip install '.[bench]')"
)


def can_plot() -> bool:
    """Whether matplotlib is importable (the plot is optional; the run checks before starting)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plot(report_rows: dict[str, list[float]], path: str) -> str:
    """Latency CDFs as a PNG; returns a message (matplotlib is optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"{PLOT_MISSING}; {path} not written"
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


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN becomes null, tuples become lists."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
