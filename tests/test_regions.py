"""The one span pipeline (annotate.regions) on real completions, and span merging (pure)."""

from __future__ import annotations

import dataclasses

from caveat.annotate.regions import annotate
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.spans import select_spans
from caveat.scoring.types import Span, level_rank

PROMPTS = [
    "import os\n\ndef list_python_files(root):\n    return [",
    'def parse_price(text):\n    """Parse "$1,234.50" into a float."""\n    return float(',
    "def mean(xs):\n    total = 0\n    for x in xs:\n        total",
]


def test_completion_regions_name_their_least_sure_token(engine: Engine) -> None:
    seen = [check_region(engine, prompt) for prompt in PROMPTS]
    assert sum(seen) >= 1, "the prompts should give an uncertain span"


def check_region(engine: Engine, prompt: str) -> int:
    """Check one completion's region; return its span count."""
    thresholds = load_thresholds(engine.info.sha256)
    c = engine.complete(CompletionRequest(prefix=prompt, max_tokens=24))
    text = prompt + c.text
    region = annotate(
        c.id, text, len(prompt), c.records, "python", thresholds, len(c.text), generated=True
    )
    assert (region.start, region.end) == (len(prompt), len(text))
    assert [text[t.start : t.end] for t in region.tokens] == [r.text for r in c.records]
    for span in region.spans:
        assert span.chosen == text[span.start : span.end]
        assert span.token == text[span.token_start : span.token_end]
        assert span.token_start < span.end and span.token_end > span.start
        assert 0 < span.token_probability <= 1
        assert all(a.text != span.token for a in span.candidates[:1]) or span.candidates == ()
        assert span.choices is None  # computed on demand, by one pipeline
        # The span's level shows on its least sure token as well, so graded decorations
        # (caveat/tokenConfidence) agree with the diagnostic.
        [token] = [t for t in region.tokens if t.start == span.token_start]
        assert level_rank(token.level) >= level_rank(span.level)
    # Sparse: at most the budget's share of the completion.
    underlined = sum(s.end - s.start for s in region.spans)
    assert underlined <= thresholds.edit_budget_chars(len(c.text))
    return len(region.spans)


def _span(start: int, end: int, kind: str, doubt: float, edit: float | None = None) -> Span:
    return Span(start, end, kind, -doubt, 0.0, "hint", (start,), start, doubt, "unit", edit)


def test_underlines_are_whole_units_that_never_overlap() -> None:
    inner = _span(10, 15, "identifier", 1.9)
    outer = _span(4, 30, "statement", 1.9)  # same doubt: the smaller unit says more
    other = _span(40, 44, "literal", 1.2)
    assert select_spans([outer, other, inner]) == [inner, other]
    unlevelled = dataclasses.replace(_span(50, 52, "operator", 3.0), level=None)
    assert select_spans([unlevelled]) == []


def test_edit_probability_ranks_before_doubt_and_the_budget_caps_characters() -> None:
    likely = _span(0, 10, "call", 1.1, edit=0.9)
    doubtful = _span(20, 25, "identifier", 2.5, edit=0.6)
    small = _span(30, 33, "identifier", 1.0, edit=0.55)
    assert select_spans([doubtful, small, likely], budget=13) == [likely, small]
    # a unit that does not fit is skipped, however likely: the budget is a promise
    assert select_spans([doubtful, likely], budget=6) == [doubtful]
