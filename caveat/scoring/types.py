"""Value types of the scoring layer: uncertain spans, their alternatives, calibrated thresholds.

Frozen dataclasses, like the engine's types: a span is computed once from a completion snapshot
and travels unchanged to the server, which converts its character offsets to LSP positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["hint", "information", "warning"]

#: Levels from least to most severe; index order is used for "at least this level" filters.
LEVELS: tuple[Level, ...] = ("hint", "information", "warning")


def level_rank(level: Level | None) -> int:
    """Severity rank of a level: -1 for none, 0 hint, 1 information, 2 warning."""
    return -1 if level is None else LEVELS.index(level)


@dataclass(frozen=True)
class SpanAlternative:
    """A replacement the model considered for a span (filled by the reranker, on demand)."""

    text: str
    probability: float
    score: float


@dataclass(frozen=True)
class Span:
    """A syntax unit of the document whose tokens the model was unsure about.

    `start`/`end` are character offsets (Python str indices) into the document text; `score` is
    a log-probability-like number (<= 0, lower = less sure); `token_indices` index the records
    the span was computed from; `worst_token` is the index of its most uncertain token.
    """

    start: int
    end: int
    kind: str
    score: float
    probability: float
    level: Level | None
    token_indices: tuple[int, ...]
    worst_token: int
    alternatives: tuple[SpanAlternative, ...] = ()


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
    model_sha256: str | None = None
    source: str = "builtin"
    beta0: float = 0.0
    beta1: float = 0.0
    p_star: float = 0.5
    balanced_accuracy: float = 0.0
    samples: int = 0

    def pick_level_for(self, logprob: float) -> Level | None:
        """The most severe level whose pick cut-off `logprob` reaches, or None."""
        if logprob <= self.pick_warning:
            return "warning"
        if logprob <= self.pick_information:
            return "information"
        if logprob <= self.pick_hint:
            return "hint"
        return None

    def level_for(self, score: float) -> Level | None:
        """The most severe level whose cut-off `score` reaches, or None."""
        if score <= self.warning:
            return "warning"
        if score <= self.information:
            return "information"
        if score <= self.hint:
            return "hint"
        return None
