"""Uncertainty scoring: per-token measures, span aggregation, calibrated levels (pure numpy).

Exports resolve lazily: the engine's decode loop imports `caveat.scoring.measures` and should
not pay for (or cycle through) the tree-sitter side of this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caveat.scoring.calibration import load_thresholds
    from caveat.scoring.spans import find_spans, score_units, token_level
    from caveat.scoring.types import LEVELS, Level, Span, SpanAlternative, Thresholds

_WHERE = {
    "load_thresholds": "caveat.scoring.calibration",
    "find_spans": "caveat.scoring.spans",
    "score_units": "caveat.scoring.spans",
    "token_level": "caveat.scoring.spans",
    "LEVELS": "caveat.scoring.types",
    "Level": "caveat.scoring.types",
    "Span": "caveat.scoring.types",
    "SpanAlternative": "caveat.scoring.types",
    "Thresholds": "caveat.scoring.types",
}

__all__ = [
    "LEVELS",
    "Level",
    "Span",
    "SpanAlternative",
    "Thresholds",
    "find_spans",
    "load_thresholds",
    "score_units",
    "token_level",
]


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
