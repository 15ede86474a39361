"""The one span pipeline (annotate.regions) on real completions, and span merging (pure)."""

from __future__ import annotations

from caveat.annotate.regions import annotate
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.spans import _merge
from caveat.scoring.types import Span, level_rank

PROMPTS = [
    "import os\n\ndef list_python_files(root):\n    return [",
    'def parse_price(text):\n    """Parse "$1,234.50" into a float."""\n    return float(',
    "def mean(xs):\n    total = 0\n    for x in xs:\n        total",
]


def test_completion_regions_name_their_least_sure_token(engine: Engine) -> None:
    seen = [check_region(engine, prompt) for prompt in PROMPTS]
    assert sum(n for n, _ in seen) >= 2, "the prompts should give uncertain spans"
    assert sum(p for _, p in seen) >= 1, "and one graded on the pick scale"


def check_region(engine: Engine, prompt: str) -> tuple[int, int]:
    """Check one completion's region; return its span count and pick-basis span count."""
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
        # A level from the pick scale shows on the token it belongs to as well, so graded
        # decorations (caveat/tokenConfidence) agree with the diagnostic.
        if span.basis == "pick":
            [token] = [t for t in region.tokens if t.start == span.token_start]
            assert level_rank(token.level) >= level_rank(span.level)
    return len(region.spans), sum(s.basis == "pick" for s in region.spans)


def _span(start: int, end: int, kind: str, score: float, doubt: float) -> Span:
    return Span(start, end, kind, score, 0.0, "hint", (start,), start, doubt, "unit")


def test_a_merged_span_is_named_after_the_larger_unit() -> None:
    inner = _span(10, 15, "identifier", -9.0, 1.9)
    outer = _span(4, 30, "statement", -7.0, 1.2)
    merged = _merge(outer, inner)
    assert (merged.start, merged.end, merged.kind) == (4, 30, "statement")
    # ... while the score, doubt and least sure token are the more doubtful unit's
    assert (merged.score, merged.doubt, merged.worst_token) == (-9.0, 1.9, 10)
