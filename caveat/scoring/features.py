"""What the edit predictor sees of one syntax unit of a completion (pure numpy).

Features caveat already has, per unit: quantiles of its tokens' log-probabilities, entropies
and margins, the equivalence-adjusted and relevance-weighted score (CCP, SAR), the calibrated
doubt, the syntax kind, how long it is, where it sits in the completion, and whether its text
copies the text before it (code repeats itself; a copied name is rarely the one to change).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from caveat.records.types import TokenRecord
from caveat.scoring.spans import agreeing_logprob
from caveat.scoring.types import Level, Span, Thresholds

KINDS = ("identifier", "literal", "operator", "call", "argument", "condition", "statement")
#: Feature names, in vector order (stored with a fitted predictor and checked on load).
NAMES: tuple[str, ...] = (
    "score",
    "doubt",
    "min_logprob",
    "mean_logprob",
    "min_agreeing",
    "max_entropy",
    "mean_entropy",
    "min_margin",
    "not_top1",
    "log_tokens",
    "first_line",
    "position",
    "copied",
    *(f"kind_{k}" for k in KINDS),
    "kind_prose",
)


@dataclass(frozen=True)
class UnitExample:
    """One scored unit of a completed reference line: its features and labels.

    `differs`: the unit's text differs from the reference line's (a user would change it);
    `fails`: the completed line fails the problem's tests (None where there are no tests).
    """

    case: int
    span: Span
    features: npt.NDArray[np.float64]
    differs: bool
    fails: bool | None


#: How far back "copied" looks for the unit's text (characters).
COPY_WINDOW = 2000


def unit_features(
    span: Span,
    records: Sequence[TokenRecord],
    text: str,
    completion_start: int,
    completion_end: int,
) -> npt.NDArray[np.float64]:
    """The feature vector of one scored unit of a completion placed at chars [start, end)."""
    recs = [records[i] for i in span.token_indices]
    lps = np.array([r.logprob for r in recs])
    ents = np.array([r.entropy for r in recs])
    margins = np.array([min(r.margin, 20.0) for r in recs])
    unit = text[span.start : span.end].strip()
    before = text[max(0, span.start - COPY_WINDOW) : span.start]
    length = max(1, completion_end - completion_start)
    first_line = "\n" not in text[completion_start : span.start]
    values = [
        -span.score,
        span.doubt,
        -float(lps.min()),
        -float(lps.mean()),
        -min(agreeing_logprob(r) for r in recs),
        float(ents.max()),
        float(ents.mean()),
        -float(margins.min()),
        float(np.mean([not r.top or r.top[0].id != r.id for r in recs])),
        math.log(len(recs)),
        float(first_line),
        (span.start - completion_start) / length,
        float(bool(unit) and unit in before),
        *(float(span.kind == k) for k in KINDS),
        float(span.kind in ("comment", "line")),
    ]
    return np.array(values, dtype=np.float64)


def grade_completion(
    units: Sequence[Span],
    records: Sequence[TokenRecord],
    text: str,
    completion_start: int,
    completion_end: int,
    thresholds: Thresholds,
) -> list[Span]:
    """The units of a completion graded by the model's edit predictor, if it has one.

    Each unit gets its predicted edit probability, and a level from the probability bands
    (`Thresholds.edit_level`), replacing the doubt-based level: what is underlined is what a
    user is likely to change. Without a fitted predictor the units come back as they are.
    """
    predictor = thresholds.predictor
    if predictor is None or not units:
        return list(units)
    if predictor.names != NAMES:
        return list(units)  # fitted on other features: stale, not silently misread
    x = np.stack([unit_features(u, records, text, completion_start, completion_end) for u in units])
    out = []
    for unit, p in zip(units, predictor.probabilities(x), strict=True):
        level: Level | None = thresholds.edit_level(float(p))
        out.append(dataclasses.replace(unit, edit=float(p), level=level, basis="edit"))
    return out
