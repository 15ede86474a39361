"""Hover turns reranked rollouts into whole-span replacements (pure part, no model)."""

from __future__ import annotations

from caveat.engine.rerank import RankedAlternative
from caveat.server.features.hover import _choices
from caveat.server.provenance import TrackedSpan

TEXT = "total = sum(valuez)\nprint(total)\n"


def _span() -> TrackedSpan:
    start = TEXT.index("valuez")
    return TrackedSpan(
        id="s1",
        completion_id="c1",
        start=start,
        end=start + len("valuez"),
        level="warning",
        kind="identifier",
        probability=0.1,
        score=-2.3,
        chosen="valuez",
        token_start=start + len("val"),
        token_end=start + len("valuez"),
    )


def _alt(text: str) -> RankedAlternative:
    return RankedAlternative(text, -0.5, 0.3, (1,))


def test_choices_keep_the_head_and_drop_rollouts_past_the_line() -> None:
    span = _span()
    ranked = [_alt("ues"), _alt("ues)\nprint"), _alt("uez"), _alt("id \n")]
    choices = _choices(TEXT, span, ranked)
    # "valuez" is the span itself; the multi-line rollout is no one-line fix; trailing blanks go.
    assert [c.text for c in choices] == ["values", "valid"]
    assert all((c.start, c.end) == (span.start, span.end) for c in choices)
