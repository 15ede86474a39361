"""`caveat bench rerank`: greedy vs adaptive (AdaDec) vs cautious (CNTP) decoding on HumanEval.

Each problem's prompt (signature + docstring) is completed to the end of the function with each
decoding mode, and the problem's tests run on the result (sandboxed, see `humaneval.py`). Cost
is counted in model evaluations: llama.cpp forward passes (one per decode call, batched or not)
and tokens evaluated, both for the completion alone (the prompt is cached before every run, so
no mode pays for it or profits from another mode's cache).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from caveat.bench.humaneval import Problem, load_problems, run_tests
from caveat.commands.common import add_model_args, load_or_fail
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest, DecodingMode
from caveat.scoring.calibration import load_thresholds

MODES: tuple[DecodingMode, ...] = ("greedy", "adaptive", "cautious")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench rerank`."""
    p = sub.add_parser("rerank", help="greedy vs adaptive vs cautious decoding on HumanEval")
    add_model_args(p)
    p.add_argument("--limit", type=int, default=20, help="number of problems (0 = all 164)")
    p.add_argument(
        "--modes",
        default="greedy,adaptive,cautious",
        help="comma-separated decoding modes to compare (greedy is the baseline)",
    )
    p.add_argument("--skip", type=int, default=0, help="skip the first N problems (to resume)")
    p.add_argument("--max-tokens", type=int, default=160, help="tokens per completion")
    p.add_argument("--threshold", type=float, default=None, help="entropy threshold (nats)")
    p.add_argument("--json", action="store_true", help="print one JSON object (with all rows)")
    p.add_argument(
        "--rows", type=Path, default=None, help="append each row to this JSON-lines file as it ends"
    )
    p.add_argument(
        "--summarize", type=Path, default=None, help="only summarize a --rows file (no model run)"
    )
    p.set_defaults(func=run)


def run_problem(
    engine: Engine, problem: Problem, mode: DecodingMode, max_tokens: int, threshold: float | None
) -> dict[str, Any]:
    """Complete one problem with one mode, count its model evaluations, test it."""
    req = CompletionRequest(
        prefix=problem.prompt,
        max_tokens=max_tokens,
        decoding=mode,
        entropy_threshold=threshold,
    )
    # Cache the prompt first (max_tokens=0 only evaluates it) so the counts are generation only.
    engine.complete(CompletionRequest(prefix=problem.prompt, max_tokens=0))
    stats = engine.stats
    passes, steps, prompt = stats.forward_passes, stats.decode_steps, stats.prompt_tokens_evaluated
    t = time.perf_counter()
    c = engine.complete(req)
    wall = time.perf_counter() - t
    return {
        "task": problem.task_id,
        "mode": mode,
        "passed": run_tests(problem, c.text, timeout=5.0),
        "forward_passes": stats.forward_passes - passes,
        "token_evals": stats.decode_steps - steps + stats.prompt_tokens_evaluated - prompt,
        "tokens": len(c.records),
        "stop": c.stop_reason,
        "wall_s": wall,
    }


def summarize(rows: list[dict[str, Any]], modes: tuple[DecodingMode, ...]) -> dict[str, Any]:
    """Pass@1, mean evaluations and wall time per mode, and cost ratios against greedy."""
    out: dict[str, Any] = {}
    for mode in modes:
        sel = [r for r in rows if r["mode"] == mode]
        if not sel:
            continue
        n = len(sel)
        out[mode] = {
            "n": n,
            "passed": sum(r["passed"] for r in sel),
            "pass_at_1": sum(r["passed"] for r in sel) / n,
            "forward_passes": sum(r["forward_passes"] for r in sel) / n,
            "token_evals": sum(r["token_evals"] for r in sel) / n,
            "tokens": sum(r["tokens"] for r in sel) / n,
            "wall_s": sum(r["wall_s"] for r in sel) / n,
            # Per generated token: completions of different lengths compare fairly.
            "passes_per_token": sum(r["forward_passes"] for r in sel)
            / max(sum(r["tokens"] for r in sel), 1),
        }
    base = out.get("greedy")
    if base:
        for mode in modes:
            if mode != "greedy" and mode in out:
                s = out[mode]
                s["passes_ratio"] = s["forward_passes"] / max(base["forward_passes"], 1e-9)
                s["token_evals_ratio"] = s["token_evals"] / max(base["token_evals"], 1e-9)
                s["wall_ratio"] = s["wall_s"] / max(base["wall_s"], 1e-9)
                s["per_token_ratio"] = s["passes_per_token"] / max(base["passes_per_token"], 1e-9)
    return out


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table (or JSON)."""
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"unknown mode(s): {', '.join(unknown)}; choose from {', '.join(MODES)}")
        return 2
    if args.summarize:
        lines = args.summarize.read_text("utf-8").splitlines()
        saved = [json.loads(line) for line in lines if line.strip()]
        return report(saved, modes, args)
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    problems = load_problems()[args.skip :]
    if args.limit:
        problems = problems[: args.limit]
    engine.complete(CompletionRequest(prefix="def f():\n    ", max_tokens=4))  # warm up
    calibrated = load_thresholds(engine.info.sha256).entropy
    threshold = calibrated if args.threshold is None else args.threshold
    rows: list[dict[str, Any]] = []
    for i, problem in enumerate(problems):
        # Rotate the mode order so machine noise favours no mode.
        for k in range(len(modes)):
            mode: DecodingMode = modes[(i + k) % len(modes)]
            rows.append(run_problem(engine, problem, mode, args.max_tokens, threshold))
            if args.rows:
                with args.rows.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rows[-1]) + "\n")
    return report(rows, modes, args)


def report(rows: list[dict[str, Any]], modes: tuple[DecodingMode, ...], args: Any) -> int:
    """Print the summary table of `rows` (or the JSON object with them)."""
    summary = summarize(rows, modes)
    if args.json:
        print(json.dumps({"summary": summary, "threshold": args.threshold, "rows": rows}))
        return 0
    problems = {r["task"] for r in rows}
    print(f"{len(problems)} HumanEval problems, max {args.max_tokens} tokens")
    print(
        f"{'mode':<9} {'pass@1':>12} {'passes':>8} {'tok evals':>10} {'wall s':>7}  (per problem)"
    )
    for mode in modes:
        s = summary.get(mode)
        if s:
            print(
                f"{mode:<9} {s['passed']:>4}/{s['n']:<3} {s['pass_at_1']:.3f} "
                f"{s['forward_passes']:>8.1f} {s['token_evals']:>10.1f} {s['wall_s']:>7.2f}"
            )
    for mode in modes:
        s = summary.get(mode, {})
        if "passes_ratio" in s:
            print(
                f"cost {mode}/greedy: forward passes x{s['passes_ratio']:.2f}, "
                f"token evaluations x{s['token_evals_ratio']:.2f}, wall x{s['wall_ratio']:.2f}, "
                f"passes per generated token x{s['per_token_ratio']:.2f}"
            )
    return 0
