"""What a user experiences of the underlines, measured on completed reference lines.

Given the cases of `edit_cases` (held-out half) and their scored units, per corpus:
- unit AUROC for "differs from the reference": caveat's score (the edit probability, or the
  calibrated doubt without a predictor) against naive aggregates of the unit's tokens
  (min log-probability, max entropy, mean log-probability);
- line AUROC for "fails the tests" (HumanEval): the line's highest unit score against the
  line's min log-probability, max entropy and mean log-probability;
- paired bootstrap 95% CIs (resampling lines) of caveat - min-logprob for both;
- the share of generated characters underlined (the default budget), and word-level
  precision and recall of the underlined characters against the words that differ from the
  reference, beside a lowest-probability-first baseline that underlines the same number of
  characters per line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from caveat.bench.edit_cases import LineCase, lexemes, wrong_chars
from caveat.records.offsets import OffsetMap
from caveat.scoring.features import UnitExample
from caveat.scoring.metrics import auroc
from caveat.scoring.spans import select_spans
from caveat.scoring.types import Thresholds

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LineScores:
    """One completed line: its label and the line-level score of each measure."""

    corpus: str
    fails: bool | None
    differs: bool
    scores: dict[str, float]


def unit_measures(e: UnitExample, case: LineCase) -> dict[str, float]:
    """Higher = more doubtful: caveat's score and the naive aggregates of one unit."""
    recs = [case.records[i] for i in e.span.token_indices]
    lps = [r.logprob for r in recs]
    return {
        "caveat": e.span.edit if e.span.edit is not None else e.span.doubt,
        "min_logprob": -min(lps),
        "max_entropy": max(r.entropy for r in recs),
        "mean_logprob": -sum(lps) / len(lps),
    }


def line_scores(cases: Sequence[LineCase], examples: Sequence[UnitExample]) -> list[LineScores]:
    """Line-level scores: caveat's highest unit, the naive ones over all the line's tokens."""
    by_case: dict[int, list[UnitExample]] = {}
    for e in examples:
        by_case.setdefault(e.case, []).append(e)
    out = []
    for index, case in enumerate(cases):
        units = by_case.get(index, [])
        lps = [r.logprob for r in case.records]
        caveat = max(
            (u.span.edit if u.span.edit is not None else u.span.doubt for u in units), default=0.0
        )
        out.append(
            LineScores(
                corpus=case.corpus,
                fails=case.fails,
                differs=bool(wrong_chars(case.generated, case.reference)),
                scores={
                    "caveat": caveat,
                    "min_logprob": -min(lps),
                    "max_entropy": max(r.entropy for r in case.records),
                    "mean_logprob": -sum(lps) / len(lps),
                },
            )
        )
    return out


def word_counts(case: LineCase, underlined: set[int]) -> tuple[int, int, int]:
    """(underlined words, of them differing, differing words) of one line (chars of generated)."""
    wrong = wrong_chars(case.generated, case.reference)
    shown = hit = differing = 0
    for a, b, _ in lexemes(case.generated):
        chars = set(range(a, b))
        bad = bool(chars & wrong)
        differing += bad
        if chars & underlined:
            shown += 1
            hit += bad
    return shown, hit, differing


def lowest_probability_first(case: LineCase, chars: int) -> set[int]:
    """Characters of the lowest-probability tokens, in that order, until `chars` are covered."""
    data = case.generated.encode("utf-8")
    offsets = OffsetMap(data)
    out: set[int] = set()
    for rec in sorted(case.records, key=lambda r: r.logprob):
        if len(out) >= chars:
            break
        a = offsets.char(min(rec.offset, len(data)))
        b = offsets.char(min(rec.end, len(data)), round_up=True)
        out |= set(range(a, b))
    return out


def underline_report(
    cases: Sequence[LineCase], examples: Sequence[UnitExample], th: Thresholds
) -> dict[str, Any]:
    """Share of characters underlined and word-level precision/recall, caveat vs baseline."""
    by_case: dict[int, list[UnitExample]] = {}
    for e in examples:
        by_case.setdefault(e.case, []).append(e)
    total = marked = 0
    sums = {"caveat": [0, 0, 0], "lowest_probability_first": [0, 0, 0]}
    for index, case in enumerate(cases):
        base = len(case.prefix)
        spans = select_spans(
            [e.span for e in by_case.get(index, [])], th.edit_budget_chars(len(case.generated))
        )
        chosen = {c - base for s in spans for c in range(s.start, s.end)}
        total += len(case.generated)
        marked += len(chosen)
        for name, chars in (
            ("caveat", chosen),
            ("lowest_probability_first", lowest_probability_first(case, len(chosen))),
        ):
            counts = word_counts(case, chars)
            sums[name] = [x + y for x, y in zip(sums[name], counts, strict=True)]
    report: dict[str, Any] = {"underlined_chars_share": marked / max(1, total)}
    for name, (shown, hit, differing) in sums.items():
        report[name] = {
            "word_precision": hit / shown if shown else math.nan,
            "word_recall": hit / differing if differing else math.nan,
            "underlined_words": shown,
        }
    return report


def bootstrap_auroc_diff(
    score_a: Array, score_b: Array, label: npt.NDArray[np.bool_], seed: int, n: int = 1000
) -> tuple[float, float]:
    """95% percentile interval of AUROC(a) - AUROC(b), resampling items with replacement."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        idx = rng.integers(0, len(label), len(label))
        if label[idx].all() or not label[idx].any():
            continue
        diffs.append(auroc(score_a[idx], label[idx]) - auroc(score_b[idx], label[idx]))
    if not diffs:
        return math.nan, math.nan
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def auroc_table(
    rows: Sequence[Any],
    label_of: Callable[[Any], bool | None],
    scores_of: Callable[[Any], dict[str, float]],
    seed: int,
) -> dict[str, Any]:
    """AUROC per measure for the rows that have a label, and caveat - min-logprob with its CI."""
    kept = [r for r in rows if label_of(r) is not None]
    label = np.array([bool(label_of(r)) for r in kept])
    out: dict[str, Any] = {"items": len(kept), "positives": int(label.sum()), "auroc": {}}
    if not kept:
        return out
    columns = {name: np.array([scores_of(r)[name] for r in kept]) for name in scores_of(kept[0])}
    for name, score in columns.items():
        out["auroc"][name] = auroc(score, label)
    lo, hi = bootstrap_auroc_diff(columns["caveat"], columns["min_logprob"], label, seed)
    out["caveat_minus_min_logprob"] = {
        "diff": out["auroc"]["caveat"] - out["auroc"]["min_logprob"],
        "ci95": [lo, hi],
    }
    return out


def corpus_report(
    cases: Sequence[LineCase], examples: Sequence[UnitExample], th: Thresholds, seed: int
) -> dict[str, Any]:
    """The whole report for the cases of one corpus (or language)."""
    units = [(e, cases[e.case]) for e in examples]
    lines = line_scores(cases, examples)
    return {
        "lines": len(cases),
        "units_differ": auroc_table(
            units, lambda u: u[0].differs, lambda u: unit_measures(u[0], u[1]), seed
        ),
        "lines_fail_tests": auroc_table(lines, lambda r: r.fails, lambda r: r.scores, seed),
        "underlines": underline_report(cases, examples, th),
    }
