"""`caveat bench healing`: `none` vs classic `token` vs exact `byte` healing on HumanEval.

Tasks are built deterministically: for each problem, the reference solution is cut at seeded
random points strictly inside an identifier or keyword (mid-token cuts) and right after one
(boundary cuts); the prompt is the problem prompt plus the solution up to the cut. Each mode
completes greedily to the end of the function, and the problem's tests run on the result.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tokenize
from dataclasses import dataclass
from typing import Any

from caveat.bench.humaneval import Problem, load_problems, run_tests
from caveat.commands.common import add_model_args, load_or_fail
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest, HealingMode

MODES: tuple[HealingMode, ...] = ("none", "token", "byte")
KINDS = ("mid", "boundary")


@dataclass(frozen=True)
class Task:
    """One cut of one problem's reference solution."""

    problem: Problem
    cut: int
    kind: str

    @property
    def prefix(self) -> str:
        """What the model sees: prompt + solution up to the cut."""
        return self.problem.prompt + self.problem.canonical_solution[: self.cut]


def name_spans(code: str) -> list[tuple[int, int]]:
    """Character ranges of the identifiers and keywords of `code` (Python tokenizer)."""
    lines = code.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans: list[tuple[int, int]] = []
    try:
        for tk in tokenize.generate_tokens(io.StringIO(code).readline):
            if tk.type == tokenize.NAME:
                a = starts[tk.start[0] - 1] + tk.start[1]
                spans.append((a, a + len(tk.string)))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return spans


def build_tasks(problems: list[Problem], seed: int, cuts: int) -> list[Task]:
    """`cuts` mid-token and `cuts` boundary cuts per problem, chosen by a per-problem seed."""
    tasks: list[Task] = []
    for p in problems:
        rng = random.Random(f"{seed}:{p.task_id}")
        spans = name_spans(p.canonical_solution)
        inside = [s for s in spans if s[1] - s[0] >= 2]
        for s in rng.sample(inside, min(cuts, len(inside))):
            tasks.append(Task(p, rng.randrange(s[0] + 1, s[1]), "mid"))
        for s in rng.sample(spans, min(cuts, len(spans))):
            tasks.append(Task(p, s[1], "boundary"))
    return tasks


def _line_at(text: str, pos: int) -> str:
    """The line of `text` that contains position `pos`, stripped."""
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return text[a : b if b >= 0 else len(text)].strip()


def prime(engine: Engine, prefix: str) -> None:
    """Leave the KV cache holding the lines before the cursor's line, as while typing.

    Rows remembered from an earlier mode on the same prompt are dropped: each mode pays for
    its first keystroke at the cut.
    """
    head = prefix[: prefix.rfind("\n") + 1].encode("utf-8")
    bos = [engine.info.bos] if engine.add_bos and engine.info.bos >= 0 else []
    engine.runtime.reset()
    engine.lm.forget()
    engine.runtime.sync([*bos, *engine.tokenizer.encode(head)])


def run_task(engine: Engine, task: Task, mode: HealingMode, max_tokens: int) -> dict[str, Any]:
    """Complete one task with one mode and test it."""
    req = CompletionRequest(prefix=task.prefix, max_tokens=max_tokens, healing=mode)
    prime(engine, task.prefix)
    c = engine.complete(req)
    sol = task.problem.canonical_solution
    body = sol[: task.cut] + c.text
    return {
        "task": task.problem.task_id,
        "cut": task.cut,
        "kind": task.kind,
        "mode": mode,
        "passed": run_tests(task.problem, body, timeout=5.0),
        "line_match": _line_at(body, task.cut) == _line_at(sol, task.cut),
        "heal_ms": c.healing.ms,
        "first_token_ms": c.timings.first_token_ms,
        "extra_passes": c.healing.extra_passes,
        "cover": c.healing.cover_text,
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pass counts, line matches and latency medians per (kind, mode)."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        for mode in MODES:
            sel = [r for r in rows if r["kind"] == kind and r["mode"] == mode]
            if not sel:
                continue
            out[f"{kind}/{mode}"] = {
                "n": len(sel),
                "passed": sum(r["passed"] for r in sel),
                "line_match": sum(r["line_match"] for r in sel),
                "pass_at_1": sum(r["passed"] for r in sel) / len(sel),
            }
    base = {(r["task"], r["cut"]): r["first_token_ms"] for r in rows if r["mode"] == "none"}
    for mode in MODES:
        sel = [r for r in rows if r["mode"] == mode]
        if sel:
            added = [r["first_token_ms"] - base[(r["task"], r["cut"])] for r in sel]
            out[f"latency/{mode}"] = {
                "heal_ms_median": statistics.median(r["heal_ms"] for r in sel),
                "first_token_ms_median": statistics.median(r["first_token_ms"] for r in sel),
                "added_ms_median": statistics.median(added),
                "extra_passes_median": statistics.median(r["extra_passes"] for r in sel),
            }
    tok, byt = out.get("latency/token"), out.get("latency/byte")
    if tok and byt:
        out["latency/byte_over_token"] = {
            "first_token": byt["first_token_ms_median"] / max(tok["first_token_ms_median"], 1e-9),
            "heal": byt["heal_ms_median"] / max(tok["heal_ms_median"], 1e-9),
        }
    return out


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench healing`."""
    p = sub.add_parser("healing", help="none vs token vs byte healing on HumanEval cuts")
    add_model_args(p)
    p.add_argument("--limit", type=int, default=20, help="number of problems (0 = all 164)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cut points")
    p.add_argument("--cuts", type=int, default=3, help="cuts of each kind per problem")
    p.add_argument("--max-tokens", type=int, default=160, help="tokens per completion")
    p.add_argument("--json", action="store_true", help="print one JSON object (with all rows)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table (or JSON)."""
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    problems = load_problems()
    if args.limit:
        problems = problems[: args.limit]
    tasks = build_tasks(problems, args.seed, args.cuts)
    engine.complete(CompletionRequest(prefix="def f():\n    ", max_tokens=4))  # warm up
    rows: list[dict[str, Any]] = []
    for i, task in enumerate(tasks):
        # Rotate the mode order so KV reuse and machine noise favour no mode.
        for k in range(len(MODES)):
            rows.append(run_task(engine, task, MODES[(i + k) % len(MODES)], args.max_tokens))
        print(f"task {i + 1}/{len(tasks)}", file=sys.stderr, flush=True)
    summary = summarize(rows)
    fim_note = (
        "FIM variant skipped: the model has no FIM tokens"
        if not engine.info.fim.available
        else "FIM variant not run: prefix-only tasks"
    )
    if args.json:
        print(json.dumps({"summary": summary, "fim": fim_note, "rows": rows}))
        return 0
    print(f"{len(problems)} problems, {len(tasks)} tasks (seed {args.seed})")
    print(f"{'kind':<9} {'mode':<6} {'pass@1':>12} {'next line':>10}")
    for kind in KINDS:
        for mode in MODES:
            s = summary.get(f"{kind}/{mode}")
            if s:
                print(
                    f"{kind:<9} {mode:<6} {s['passed']:>5}/{s['n']:<3} {s['pass_at_1']:5.2f}"
                    f" {s['line_match']:>6}/{s['n']}"
                )
    for mode in MODES:
        lat = summary.get(f"latency/{mode}")
        if lat:
            print(
                f"latency {mode:<6} first token {lat['first_token_ms_median']:7.1f} ms "
                f"(+{lat['added_ms_median']:.1f} vs none), healing itself "
                f"{lat['heal_ms_median']:.1f} ms, model calls {lat['extra_passes_median']} "
                "(medians)"
            )
    ratio = summary.get("latency/byte_over_token")
    if ratio:
        print(
            f"byte/token: first-token latency x{ratio['first_token']:.2f}, "
            f"healing time x{ratio['heal']:.2f}"
        )
    print(fim_note)
    return 0
