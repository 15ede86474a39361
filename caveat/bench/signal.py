"""`caveat bench signal`: do caveat's underlines find the code a user would change?

Completions (what a user experiences): held-out next-line completions of real code in three
corpora (`caveat.bench.edit_cases`: HumanEval 82-163 with tests, stdlib Python, vendored
JavaScript), reported per corpus and per language by `caveat.bench.edit_signal`: unit AUROC for
"differs from the reference", line AUROC for "fails the tests", caveat vs min log-probability
with a paired bootstrap CI, the share of characters underlined, and word-level precision and
recall of the underlines beside a lowest-probability-first baseline with the same budget.

Mutations (scanned code): a solution with one token replaced by a plausible wrong one is
scanned; the unit holding the replacement is positive, every other unit negative; caveat's
span doubt against naive aggregates (AUROC, precision at caveat's operating point).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from caveat.bench.edit_cases import (
    FIRST_HELD_OUT,
    LineCase,
    humaneval_cases,
    source_cases,
    unit_examples,
)
from caveat.bench.edit_signal import corpus_report
from caveat.commands.common import add_model_args, open_backend, progress_bar
from caveat.engine.backend import Backend
from caveat.engine.remote.engine import WIRE_K, RemoteEngine
from caveat.records.types import TokenRecord
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.corpus import Problem, humaneval_problems, mutate
from caveat.scoring.metrics import auroc, precision_at_count
from caveat.scoring.spans import agreeing_logprob, score_units, token_relevance
from caveat.scoring.types import Thresholds, level_rank

MEASURES = ("caveat", "min_logprob", "mean_logprob", "mean_entropy")
# Ablations of caveat's score, reported in the JSON: which ingredient carries the signal.
ABLATIONS = ("no_relevance", "no_equivalence", "surprise_minus_entropy")


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
    add_model_args(p, remote=True)
    p.add_argument(
        "--wire-k",
        type=int,
        default=WIRE_K,
        help=f"with --server: alternatives per token asked of the server (default {WIRE_K});"
        " the entropy is bounded from these",
    )
    p.add_argument(
        "--no-prompt-cache",
        action="store_true",
        help="with --server: every prompt evaluated whole (as CAVEAT_KV_REUSE=0 does in process),"
        " so runs compare backends, not cache histories",
    )
    p.add_argument("--limit", type=int, default=82, help="HumanEval problems to use")
    p.add_argument("--lines", type=int, default=3, help="completed lines per HumanEval problem")
    p.add_argument(
        "--source-lines", type=int, default=150, help="completed lines per source corpus"
    )
    p.add_argument("--mutations", type=int, default=2, help="mutated copies per problem")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--first",
        type=int,
        default=FIRST_HELD_OUT,
        help=f"first HumanEval problem (default {FIRST_HELD_OUT}: the half calibration does not "
        "use; 0 gives the calibration half, for developing scores without touching the test set)",
    )
    p.add_argument(
        "--split",
        choices=("held_out", "calibration"),
        default="held_out",
        help="which half of HumanEval and of the source corpora the completions come from",
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


def mutation_rows(
    engine: Backend, problem: Problem, count: int, rng: random.Random, th: Thresholds
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


def completion_report(
    engine: Backend, args: argparse.Namespace, th: Thresholds, advance: Callable[[], None]
) -> dict[str, Any]:
    """Per corpus, per language and overall: the edit_signal report of completed lines."""
    rng = random.Random(args.seed)
    by_corpus: dict[str, list[LineCase]] = {}
    sources = [
        humaneval_cases(engine, args.split, args.lines, rng, limit=args.limit),
        source_cases(engine, "stdlib", args.split, args.source_lines, rng),
        source_cases(engine, "js", args.split, args.source_lines, rng),
    ]
    for source in sources:
        for case in source:
            by_corpus.setdefault(case.corpus, []).append(case)
            advance()
    groups: dict[str, list[LineCase]] = dict(by_corpus)
    for case in (c for cases in by_corpus.values() for c in cases):
        groups.setdefault(f"language:{case.language}", []).append(case)
    groups["all"] = [c for cases in by_corpus.values() for c in cases]
    return {
        name: corpus_report(cases, unit_examples(cases, th), th, args.seed)
        for name, cases in groups.items()
    }


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print (or dump) its numbers."""
    engine = open_backend(args, wire_k=args.wire_k)
    if isinstance(engine, RemoteEngine):
        engine.cache_prompt = not args.no_prompt_cache
    if isinstance(engine, int):
        return engine
    th = load_thresholds(engine.info.sha256)
    # Mutations are scans, which a llama.cpp server cannot do (no prompt log-probabilities).
    problems = humaneval_problems()[args.first :][: args.limit] if engine.kind == "local" else []
    rng = random.Random(args.seed)
    muts: list[Row] = []
    mut_chars = 0
    total = args.limit * args.lines + 2 * args.source_lines + len(problems)
    with progress_bar(quiet=args.json) as bar:
        task = bar.add_task("signal benchmark", total=total)
        completions = completion_report(engine, args, th, lambda: bar.advance(task))
        for problem in problems:
            r, c = mutation_rows(engine, problem, args.mutations, rng, th)
            muts += r
            mut_chars += c
            bar.advance(task)
    result = {
        "model": engine.info.name,
        "backend": engine.kind,
        "wire_k": args.wire_k if engine.kind != "local" else None,
        "split": args.split,
        "predictor": th.predictor is not None,
        "edit_cuts": th.edit_cuts,
        "edit_budget": th.edit_budget,
        "completions": completions,
        "mutations": summarize(muts, mut_chars),
    }
    if args.rows_out:
        args.rows_out.write_text(json.dumps([asdict(r) for r in muts]), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


def _fmt(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.3f}"


def _print(result: dict[str, Any]) -> None:
    out = Console()
    table = Table(title="completions (held-out lines): AUROC, caveat vs naive measures")
    for col in ("group", "label", "n", "caveat", "min_logprob", "max_entropy", "mean_logprob"):
        table.add_column(col, justify="left" if col in ("group", "label") else "right")
    table.add_column("caveat - min_logprob (95% CI)", justify="right")
    for group, report in result["completions"].items():
        for label in ("units_differ", "lines_fail_tests"):
            s = report[label]
            if not s.get("items") or not s.get("auroc"):
                continue
            d = s["caveat_minus_min_logprob"]
            table.add_row(
                group,
                label,
                str(s["items"]),
                *(_fmt(s["auroc"][m]) for m in ("caveat", "min_logprob", "max_entropy")),
                _fmt(s["auroc"]["mean_logprob"]),
                f"{d['diff']:+.3f} ({d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f})",
            )
    out.print(table)
    under = Table(title="underlines: share of characters, word-level precision / recall")
    for col in ("group", "underlined", "caveat P", "caveat R", "lowest-prob P", "lowest-prob R"):
        under.add_column(col, justify="left" if col == "group" else "right")
    for group, report in result["completions"].items():
        u = report["underlines"]
        c, b = u["caveat"], u["lowest_probability_first"]
        under.add_row(
            group,
            f"{u['underlined_chars_share']:.1%}",
            _fmt(c["word_precision"]),
            _fmt(c["word_recall"]),
            _fmt(b["word_precision"]),
            _fmt(b["word_recall"]),
        )
    out.print(under)
    s = result["mutations"]
    if s.get("units"):
        table = Table(
            title=f"mutations (scans): {s['units']} units, {s['positives']} positive, "
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
