"""`caveat bench signal`: does caveat's span score find the code a user would change?

Two labelled sets of syntax units, both from HumanEval problems the default calibration does
not use (the second half, HumanEval/82 onward):
- completions: prefix = prompt + canonical solution up to a line boundary; the model completes
  the next line greedily; a unit of the completion is positive when its lexical tokens differ
  from the reference line's (whitespace-normalised diff);
- mutations: a solution with one token replaced by a plausible wrong one is scanned; the unit
  holding the replacement is positive, every other unit of the solution negative.
Each unit is ranked by caveat's span doubt (its calibrated false-alarm rate: completion units on
the scale of the model's correct picks, scanned units on the scale of reference units, so the
two sets rank on one scale) and by three naive aggregates of its tokens (mean log-probability,
min log-probability, mean entropy): AUROC, and precision at caveat's operating point (units at
level >= information) with the naive ones given the same budget.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from caveat.commands.common import add_model_args, load_or_fail, progress_bar
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest
from caveat.records.types import TokenRecord
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.corpus import Problem, humaneval_problems, mutate
from caveat.scoring.metrics import auroc, precision_at_count
from caveat.scoring.spans import agreeing_logprob, score_units, token_relevance
from caveat.scoring.types import Thresholds, level_rank

FIRST_HELD_OUT = 82
MEASURES = ("caveat", "min_logprob", "mean_logprob", "mean_entropy")
# Ablations of caveat's score, reported in the JSON: which ingredient carries the signal.
ABLATIONS = ("no_relevance", "no_equivalence", "surprise_minus_entropy")
_LEX = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Row:
    """One scored syntax unit: its measures (higher = more doubtful), label, flag, place."""

    measures: dict[str, float]
    positive: bool
    flagged: bool
    doc: int
    start: int
    end: int
    kind: str = ""
    # Per token (for offline analysis in --rows-out): logprob, entropy, margin, whether it is
    # the model's top-1, its relevance weight.
    tokens: tuple[tuple[float, float, float, bool, float], ...] = ()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench signal`."""
    p = sub.add_parser("signal", help="AUROC of span scores vs naive aggregates (HumanEval)")
    add_model_args(p)
    p.add_argument("--limit", type=int, default=40, help="HumanEval problems to use")
    p.add_argument("--lines", type=int, default=3, help="completed lines per problem")
    p.add_argument("--mutations", type=int, default=2, help="mutated copies per problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--first",
        type=int,
        default=FIRST_HELD_OUT,
        help=f"first HumanEval problem (default {FIRST_HELD_OUT}: the half calibration does not "
        "use; 0 gives the calibration half, for developing scores without touching the test set)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--rows-out", type=Path, default=None, help="save every scored unit (JSON)")
    p.set_defaults(func=run)


def unit_rows(
    text: str,
    records: Sequence[TokenRecord],
    start_byte: int,
    thresholds: Thresholds,
    wrong: set[int],
    doc: int,
    *,
    generated: bool,
) -> list[Row]:
    """Rows for every unit of `records`; `wrong` holds the character offsets labelled wrong.

    A unit is positive when one of its own tokens touches a wrong character (a call whose
    parentheses are fine is not positive because a wrong name sits inside it).
    """
    data = text.encode("utf-8")
    rows = []
    for span in score_units(text, "python", records, start_byte, thresholds, generated=generated):
        recs = [records[i] for i in span.token_indices]
        lps = [r.logprob for r in recs]
        weights = [token_relevance(r.bytes, span.kind) for r in recs]
        rows.append(
            Row(
                measures={
                    "caveat": span.doubt,
                    "min_logprob": -min(lps),
                    "mean_logprob": -sum(lps) / len(lps),
                    "mean_entropy": sum(r.entropy for r in recs) / len(recs),
                    "no_relevance": -min(agreeing_logprob(r) for r in recs),
                    "no_equivalence": -min(
                        w * r.logprob for w, r in zip(weights, recs, strict=True)
                    ),
                    "surprise_minus_entropy": max(-r.logprob - r.entropy for r in recs),
                },
                positive=any(_touches(data, start_byte, r, wrong) for r in recs),
                flagged=level_rank(span.level) >= level_rank("information"),
                doc=doc,
                start=span.start,
                end=span.end,
                kind=span.kind,
                tokens=tuple(
                    (r.logprob, r.entropy, r.margin, bool(r.top) and r.top[0].id == r.id, w)
                    for r, w in zip(recs, weights, strict=True)
                ),
            )
        )
    return rows


def _touches(data: bytes, start_byte: int, rec: TokenRecord, wrong: set[int]) -> bool:
    """Whether the token's non-blank characters include a wrong one."""
    a = len(data[: start_byte + rec.offset].decode("utf-8", errors="ignore"))
    token = rec.bytes.decode("utf-8", errors="ignore")
    return any(a + i in wrong for i, ch in enumerate(token) if not ch.isspace())


def wrong_chars(generated: str, reference: str, base: int) -> set[int]:
    """Offsets (base + index into `generated`) of lexical tokens not matched in `reference`."""
    gen = [(m.start(), m.end(), m.group()) for m in _LEX.finditer(generated)]
    ref = [m.group() for m in _LEX.finditer(reference)]
    sm = difflib.SequenceMatcher(a=[g[2] for g in gen], b=ref, autojunk=False)
    good: set[int] = set()
    for block in sm.get_matching_blocks():
        good.update(range(block.a, block.a + block.size))
    return {base + c for i, (s, e, _) in enumerate(gen) if i not in good for c in range(s, e)}


def completion_rows(
    engine: Engine, problem: Problem, lines: int, rng: random.Random, th: Thresholds
) -> tuple[list[Row], int]:
    """Rows from greedy next-line completions inside one solution; also the characters seen."""
    sol_lines = problem.solution.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(sol_lines) if line.strip()]
    rows: list[Row] = []
    chars = 0
    for i in sorted(rng.sample(candidates, min(lines, len(candidates)))):
        prefix = problem.prompt + "".join(sol_lines[:i])
        reference = sol_lines[i].rstrip("\n")
        done = engine.complete(CompletionRequest(prefix=prefix, max_tokens=40, stop=("\n",)))
        generated = done.text.split("\n", 1)[0]
        cut = len(generated.encode("utf-8"))
        records = [r for r in done.records if r.offset < cut]
        if not generated.strip() or not records:
            continue
        text = prefix + generated + "\n"
        base = len(prefix)
        chars += len(generated.strip())
        wrong = wrong_chars(generated, reference, base)
        doc = hash((problem.task_id, i))
        start = len(prefix.encode("utf-8"))
        rows += unit_rows(text, records, start, th, wrong, doc, generated=True)
    return rows, chars


def mutation_rows(
    engine: Engine, problem: Problem, count: int, rng: random.Random, th: Thresholds
) -> tuple[list[Row], int]:
    """Rows from scanning mutated copies of one solution; also the characters seen."""
    rows: list[Row] = []
    chars = 0
    for _ in range(count):
        mut = mutate(problem, rng)
        if mut is None:
            continue
        start = len(mut.text[: mut.score_from].encode("utf-8"))
        records = engine.scan(mut.text, start_byte=start)
        chars += len(mut.text) - mut.score_from
        wrong = set(range(mut.start, mut.end))
        doc = hash((mut.task_id, mut.start))
        rows += unit_rows(mut.text, records, 0, th, wrong, doc, generated=False)
    return rows, chars


def summarize(rows: Sequence[Row], chars: int) -> dict[str, Any]:
    """AUROC per measure, precision at caveat's operating point, share of characters flagged."""
    if not rows:
        return {"units": 0}
    label = np.array([r.positive for r in rows])
    flagged = sum(r.flagged for r in rows)
    out: dict[str, Any] = {
        "units": len(rows),
        "positives": int(label.sum()),
        "flagged_units": flagged,
        "flagged_chars_share": len(
            {(r.doc, c) for r in rows if r.flagged for c in range(r.start, r.end)}
        )
        / max(1, chars),
        "auroc": {},
        "precision_at_operating_point": {},
    }
    for name in MEASURES + ABLATIONS:
        score = np.array([r.measures[name] for r in rows])
        out["auroc"][name] = auroc(score, label)
        out["precision_at_operating_point"][name] = precision_at_count(score, label, flagged)
    return out


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print (or dump) its numbers."""
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    th = load_thresholds(engine.info.sha256)
    problems = humaneval_problems()[args.first :][: args.limit]
    rng = random.Random(args.seed)
    comp: list[Row] = []
    muts: list[Row] = []
    comp_chars = mut_chars = 0
    with progress_bar(quiet=args.json) as bar:
        task = bar.add_task("signal benchmark", total=len(problems))
        for problem in problems:
            r, c = completion_rows(engine, problem, args.lines, rng, th)
            comp += r
            comp_chars += c
            r, c = mutation_rows(engine, problem, args.mutations, rng, th)
            muts += r
            mut_chars += c
            bar.advance(task)
    result = {
        "model": engine.info.name,
        "problems": len(problems),
        "first_problem": args.first,
        "thresholds": {"hint": th.hint, "information": th.information, "warning": th.warning},
        "completions": summarize(comp, comp_chars),
        "mutations": summarize(muts, mut_chars),
        "all": summarize(comp + muts, comp_chars + mut_chars),
    }
    if args.rows_out:
        rows = {"completions": [asdict(r) for r in comp], "mutations": [asdict(r) for r in muts]}
        args.rows_out.write_text(json.dumps(rows), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


def _fmt(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.3f}"


def _print(result: dict[str, Any]) -> None:
    out = Console()
    for part in ("completions", "mutations", "all"):
        s = result[part]
        if not s.get("units"):
            continue
        table = Table(
            title=f"{part}: {s['units']} units, {s['positives']} positive, "
            f"{s['flagged_units']} flagged, {s['flagged_chars_share']:.1%} of chars"
        )
        table.add_column("measure")
        table.add_column("AUROC", justify="right")
        table.add_column("precision@op", justify="right")
        for name in MEASURES:
            table.add_row(
                name, _fmt(s["auroc"][name]), _fmt(s["precision_at_operating_point"][name])
            )
        out.print(table)
