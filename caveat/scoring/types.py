"""Value types of the scoring layer: uncertain spans and calibrated thresholds.

Frozen dataclasses, like the engine's types: a span is computed once from a completion snapshot
and travels unchanged to the server, which converts its character offsets to LSP positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from caveat.scoring.predictor import EditPredictor

Level = Literal["hint", "information", "warning"]
#: Which calibrated scale gave a span its level: the unit score (how surprising the text is),
#: or, for the model's own output, its pick (how unsure the model was of what it chose).
Basis = Literal["unit", "pick", "edit"]

#: Levels from least to most severe; index order is used for "at least this level" filters.
LEVELS: tuple[Level, ...] = ("hint", "information", "warning")


#: False-alarm rates at which calibration records quantiles of correct code's scores
#: (`Thresholds.unit_quantiles` / `pick_quantiles`), from common to rare.
FAR_GRID: tuple[float, ...] = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)
#: The rates of the three levels (hint, information, warning); also in FAR_GRID.
LEVEL_RATES: tuple[float, float, float] = (0.10, 0.05, 0.02)


def level_rank(level: Level | None) -> int:
    """Severity rank of a level: -1 for none, 0 hint, 1 information, 2 warning."""
    return -1 if level is None else LEVELS.index(level)


@dataclass(frozen=True)
class Span:
    """A syntax unit of the document whose tokens the model was unsure about.

    `start`/`end` are character offsets (Python str indices) into the document text; `score` is
    a log-probability-like number (<= 0, lower = less sure); `token_indices` index the records
    the span was computed from; `worst_token` is the index of its most uncertain token.
    `doubt` puts every span on one calibrated scale: -log10 of the share of correct code that
    looks at least this unsure (reference units for scanned text, the model's correct picks for
    generated text), so 1 = 10% (hint), 1.3 = 5% (information), 1.7 = 2% (warning); `basis`
    names the scale that gave the larger doubt, and so the level. `edit` is the edit
    predictor's probability that a user changes the unit (completions of a model with a fitted
    predictor; basis "edit" when it set the level).
    """

    start: int
    end: int
    kind: str
    score: float
    probability: float
    level: Level | None
    token_indices: tuple[int, ...]
    worst_token: int
    doubt: float = 0.0
    basis: Basis = "unit"
    edit: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """Calibrated cut-offs for one model.

    `entropy` is the AdaDec threshold H* in nats: a step at or above it is one where the model's
    top-1 is more likely wrong than right. `hint`, `information` and `warning` are cut-offs on a
    span's score (log-probability, <= 0): a span whose score is at or below a cut-off gets that
    level (the most severe one that applies), so `warning <= information <= hint <= 0`.
    `pick_*` are the same cut-offs for tokens the model picked itself (a completion's top-1):
    a pick's log-probability is bounded by the top-1's, so it needs its own, higher cut-offs.
    The remaining fields record where the numbers came from.
    """

    entropy: float = 1.0
    hint: float = -1.2
    information: float = -2.3
    warning: float = -3.5
    pick_hint: float = -0.69
    pick_information: float = -1.2
    pick_warning: float = -1.9
    unit_quantiles: tuple[float, ...] = ()
    pick_quantiles: tuple[float, ...] = ()
    model_sha256: str | None = None
    source: str = "builtin"
    # Edit predictor (caveat.scoring.predictor), fitted by `caveat calibrate`; empty = none.
    edit_names: tuple[str, ...] = ()
    edit_mean: tuple[float, ...] = ()
    edit_scale: tuple[float, ...] = ()
    edit_weights: tuple[float, ...] = ()
    edit_bias: float = 0.0
    #: Edit probabilities at which a completion's unit is underlined as hint/information/warning.
    edit_cuts: tuple[float, float, float] = (0.5, 0.6, 0.75)
    #: Most characters of a completion underlined, as a share of its length (never fewer than
    #: `edit_budget_floor`, so a short line can still show one name).
    edit_budget: float = 0.15
    edit_budget_floor: int = 10
    beta0: float = 0.0
    beta1: float = 0.0
    p_star: float = 0.5
    balanced_accuracy: float = 0.0
    samples: int = 0

    def pick_level_for(self, logprob: float) -> Level | None:
        """The most severe level whose pick cut-off `logprob` reaches, or None."""
        return _level(logprob, (self.pick_hint, self.pick_information, self.pick_warning))

    def doubt(self, score: float, pick: float | None = None) -> float:
        """-log10 false-alarm rate of a span `score` (and of a generated token's `pick` logprob).

        Interpolated in the calibrated quantiles (FAR_GRID); without them, in the three level
        cut-offs. The larger of the two scales counts, as for levels.
        """
        d = _doubt(score, self.unit_quantiles or (self.hint, self.information, self.warning))
        if pick is not None:
            cuts = (self.pick_hint, self.pick_information, self.pick_warning)
            d = max(d, _doubt(pick, self.pick_quantiles or cuts))
        return d

    @property
    def predictor(self) -> EditPredictor | None:
        """The fitted edit predictor, or None when calibration fitted none."""
        if not self.edit_names:
            return None
        return EditPredictor(
            self.edit_names, self.edit_mean, self.edit_scale, self.edit_weights, self.edit_bias
        )

    def edit_level(self, probability: float) -> Level | None:
        """The most severe level whose edit-probability cut `probability` reaches, or None."""
        level: Level | None = None
        for name, cut in zip(LEVELS, self.edit_cuts, strict=True):
            if probability >= cut:
                level = name
        return level

    def edit_budget_chars(self, length: int) -> int:
        """Characters of a `length`-char completion that may be underlined."""
        return max(int(self.edit_budget * length), self.edit_budget_floor)

    def level_for(self, score: float) -> Level | None:
        """The most severe level whose cut-off `score` reaches, or None."""
        return _level(score, (self.hint, self.information, self.warning))


def _level(x: float, cuts: tuple[float, float, float]) -> Level | None:
    """The most severe of LEVELS whose cut-off (hint, information, warning) `x` reaches."""
    for level, cut in zip(reversed(LEVELS), reversed(cuts), strict=True):
        if x <= cut:
            return level
    return None


def _doubt(x: float, quantiles: Sequence[float]) -> float:
    """-log10 of the false-alarm rate at score `x`, given the scores at FAR_GRID (or LEVEL_RATES).

    Linear in the score between calibrated points (and from score 0, rate 1); below the rarest
    point it continues with the last segment's slope, so the worst spans still rank apart.
    """
    rates = FAR_GRID if len(quantiles) == len(FAR_GRID) else LEVEL_RATES
    xs = [0.0, *quantiles]
    ys = [0.0, *(-math.log10(r) for r in rates)]
    if x >= 0.0:
        return 0.0
    for i in range(1, len(xs)):
        if x >= xs[i]:
            span = xs[i - 1] - xs[i]
            t = (xs[i - 1] - x) / span if span > 0 else 1.0
            return ys[i - 1] + t * (ys[i] - ys[i - 1])
    # Beyond the rarest calibrated point: extend the last segment (at least 0.1 per nat).
    span = xs[-2] - xs[-1]
    slope = (ys[-1] - ys[-2]) / span if span > 0 else 0.1
    return ys[-1] + (xs[-1] - x) * max(slope, 0.1)
