"""`caveat bench alternatives`: does the hover's list hold what the user would have written?

Held-out HumanEval problems (82 onward, the half calibration does not use): the model completes
a line of the canonical solution greedily; every syntax unit of the completion whose text
differs from the reference's unit at the same place is a case. For each case:
- caveat: the span's alternatives as every surface shows them (`annotate.alternatives`: the
  least sure token's other candidates completed to the end of the unit, invalid ones dropped,
  equivalents merged, sorted by probability); also the same list ordered by the rollouts' mean
  log-probability (AdaDec's rerank key) instead;
- baseline: the model's next-token top-k at that token without lookahead, each swapped into
  the unit (what caveat showed before reranking: `fo|o` -> `ba|o`);
- a lenient baseline: a top-k token counts when the reference unit merely starts with the
  span's text before the token plus that token.
Only units around which the line agrees with the reference count (see `reference_unit`).
A case is a hit at k when the reference unit is among the first k entries (compared as code:
whitespace and quote style ignored). Paired bootstrap 95% CIs for caveat - baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from caveat.annotate.alternatives import choices_from_rollouts, normalize_code
from caveat.annotate.provenance import TrackedSpan
from caveat.annotate.regions import track
from caveat.bench.edit_cases import FIRST_HELD_OUT, lexemes
from caveat.commands.common import add_model_args, load_or_fail, progress_bar
from caveat.engine.engine import Engine
from caveat.engine.rerank import HOVER_LOOKAHEAD, rerank
from caveat.engine.types import CompletionRequest
from caveat.grammars.validity import bracket_depth
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.corpus import Problem, humaneval_problems
from caveat.scoring.spans import score_units
from caveat.scoring.types import Thresholds

LISTS = ("caveat", "caveat_by_rerank_score", "topk_swap", "topk_prefix")
KS = (1, 3)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench alternatives`."""
    p = sub.add_parser(
        "alternatives",
        help="hit rate of the reference among hover alternatives vs plain top-k (HumanEval)",
    )
    add_model_args(p)
    p.add_argument("--limit", type=int, default=82, help="HumanEval problems to use")
    p.add_argument("--lines", type=int, default=3, help="completed lines per problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--first",
        type=int,
        default=FIRST_HELD_OUT,
        help=f"first HumanEval problem (default {FIRST_HELD_OUT}, held out; 0 = calibration half)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def reference_unit(generated: str, reference: str, start: int, end: int) -> str | None:
    """The text of the reference line in place of generated[start:end], or None.

    The two lines are aligned by lexical tokens. None unless the line agrees around the unit
    (the token before it and the token after it are matched, or are the line's ends): only
    then does "the reference's unit" name one piece of text a user would have typed instead.
    """
    gen, ref = lexemes(generated), lexemes(reference)
    inside = [i for i, (s, e, _) in enumerate(gen) if s >= start and e <= end]
    if not inside:
        return None
    first, last = inside[0], inside[-1]
    matcher = difflib.SequenceMatcher(a=[g[2] for g in gen], b=[r[2] for r in ref], autojunk=False)
    aligned = {
        block.a + k: block.b + k
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    }
    if first > 0 and first - 1 not in aligned:
        return None
    if last + 1 < len(gen) and last + 1 not in aligned:
        return None
    lo = aligned[first - 1] + 1 if first > 0 else 0
    hi = aligned[last + 1] if last + 1 < len(gen) else len(ref)
    if lo >= hi:
        return None
    return reference[ref[lo][0] : ref[hi - 1][1]]


def hits(listed: Sequence[str], target: str) -> dict[int, bool]:
    """Whether `target` is among the first k of `listed`, for each k in KS (as code)."""
    key = normalize_code(target)
    keys = [normalize_code(t) for t in listed]
    return {k: key in keys[:k] for k in KS}


def swap_list(text: str, span: TrackedSpan) -> list[str]:
    """The unit with its least sure token swapped for each top-k candidate (no lookahead)."""
    start = min(span.start, span.token_start)
    return [
        text[start : span.token_start] + a.text + text[span.token_end : span.end]
        for a in span.candidates
    ]


def prefix_hits(text: str, span: TrackedSpan, target: str) -> dict[int, bool]:
    """Lenient baseline: the reference unit starts with head + candidate token, for each k."""
    start = min(span.start, span.token_start)
    head = text[start : span.token_start]
    goal = normalize_code(target)
    ok = [
        bool(normalize_code(head + a.text)) and goal.startswith(normalize_code(head + a.text))
        for a in span.candidates
    ]
    return {k: any(ok[:k]) for k in KS}


def cases_of(
    engine: Engine, problem: Problem, lines: int, rng: random.Random, th: Thresholds
) -> list[dict[str, Any]]:
    """The evaluated cases of one problem (one per unit that differs from the reference)."""
    sol = problem.solution.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(sol) if line.strip()]
    out = []
    for i in sorted(rng.sample(candidates, min(lines, len(candidates)))):
        prefix = problem.prompt + "".join(sol[:i])
        reference = sol[i].rstrip("\n")
        done = engine.complete(CompletionRequest(prefix=prefix, max_tokens=40, stop=("\n",)))
        generated = done.text.split("\n", 1)[0]
        cut = len(generated.encode("utf-8"))
        records = [r for r in done.records if r.offset < cut]
        if not generated.strip() or not records or generated.strip() == reference.strip():
            continue
        text = prefix + generated + "\n"
        base = len(prefix)
        units = score_units(text, "python", records, len(prefix.encode()), th, generated=True)
        # Every unit is evaluated, flagged or not: the question is the list, not the flag.
        units = [dataclasses.replace(u, level=u.level or "hint") for u in units]
        region = track(problem.task_id, text, base, records, units, th, len(generated))
        for span in region.spans:
            target = reference_unit(generated, reference, span.start - base, span.end - base)
            if target is None or not target.strip():
                continue
            if normalize_code(target) == normalize_code(span.chosen):
                continue
            if span.token_start < 0 or not span.candidates:
                continue
            start = min(span.start, span.token_start)
            rollouts = rerank(
                engine,
                text[: span.token_start],
                span.candidates[:5],
                span_end_text=text[span.end :],
                k=5,
                lookahead=HOVER_LOOKAHEAD,
                language="python",
                depth0=bracket_depth(text[start : span.token_start]),
                inner=text[span.token_end : span.end],
            )
            choices = choices_from_rollouts(text, span, rollouts, "python")
            by_score = sorted(choices, key=lambda c: -c.score)
            out.append(
                {
                    "task": problem.task_id,
                    "unit": span.chosen,
                    "reference": target,
                    "offered": [c.text for c in choices],
                    "hits": {
                        "caveat": hits([c.text for c in choices], target),
                        "caveat_by_rerank_score": hits([c.text for c in by_score], target),
                        "topk_swap": hits(swap_list(text, span), target),
                        "topk_prefix": prefix_hits(text, span, target),
                    },
                }
            )
    return out


def _bootstrap(diff: np.ndarray, seed: int, n: int = 2000) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of paired differences."""
    if len(diff) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarize(cases: Sequence[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Hit rates per list and k, and caveat - baseline with its bootstrap CI."""
    out: dict[str, Any] = {"cases": len(cases), "hit_rate": {}, "caveat_minus": {}}
    for name in LISTS:
        out["hit_rate"][name] = {
            f"top{k}": float(np.mean([c["hits"][name][k] for c in cases])) if cases else 0.0
            for k in KS
        }
    for base in ("topk_swap", "topk_prefix"):
        out["caveat_minus"][base] = {}
        for k in KS:
            diff = np.array(
                [float(c["hits"]["caveat"][k]) - float(c["hits"][base][k]) for c in cases]
            )
            lo, hi = _bootstrap(diff, seed)
            mean = float(diff.mean()) if len(diff) else float("nan")
            out["caveat_minus"][base][f"top{k}"] = {"mean": mean, "ci95": [lo, hi]}
    offered = [len(c["offered"]) for c in cases]
    out["mean_offered"] = float(np.mean(offered)) if offered else 0.0
    out["no_alternative_share"] = float(np.mean([n == 0 for n in offered])) if offered else 0.0
    return out


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print (or dump) its numbers."""
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    th = load_thresholds(engine.info.sha256)
    problems = humaneval_problems()[args.first :][: args.limit]
    rng = random.Random(args.seed)
    cases: list[dict[str, Any]] = []
    with progress_bar(quiet=args.json) as bar:
        task = bar.add_task("alternatives benchmark", total=len(problems))
        for problem in problems:
            cases += cases_of(engine, problem, args.lines, rng, th)
            bar.advance(task)
    result = {
        "model": engine.info.name,
        "problems": len(problems),
        "first_problem": args.first,
        **summarize(cases, args.seed),
    }
    if args.json:
        print(json.dumps({**result, "examples": cases}, indent=2))
        return 0
    table = Table(title=f"{result['cases']} completion units that differ from the reference")
    table.add_column("list")
    for k in KS:
        table.add_column(f"top-{k} hit", justify="right")
    for name in LISTS:
        table.add_row(name, *(f"{result['hit_rate'][name][f'top{k}']:.1%}" for k in KS))
    out = Console()
    out.print(table)
    for base, by_k in result["caveat_minus"].items():
        for k, d in by_k.items():
            out.print(
                f"caveat - {base} ({k}): {d['mean']:+.3f}, 95% CI {d['ci95'][0]:+.3f} to "
                f"{d['ci95'][1]:+.3f}"
            )
    out.print(
        f"mean alternatives offered {result['mean_offered']:.2f}; "
        f"none valid for {result['no_alternative_share']:.1%} of units"
    )
    return 0
