"""The one alternatives pipeline: what a span could be replaced with, never breaking the code.

For a span's least sure token, each other candidate the model weighed there is rolled out
greedily to the end of the syntax unit (`caveat.engine.rerank`); the span's text before the
token plus that rollout is a whole-span replacement. A replacement is offered only when:
- its rollout closed the unit within the lookahead (an unfinished one is dropped),
- it stays on one line when the span does, and differs from the span as code,
- it keeps the code valid (`caveat.grammars.validity`: no new parse error or comment, no
  glued word, no bracket or quote left open).
Equivalent replacements (whitespace and quote style) merge, their probabilities added; the list
is sorted by that probability, the one every surface shows, best first.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence

from caveat.annotate.provenance import Choice, Region, TrackedSpan
from caveat.engine.backend import Backend
from caveat.engine.rerank import HOVER_LOOKAHEAD, rerank
from caveat.engine.rollout import Rollout
from caveat.grammars.validity import ParseProblems, bracket_depth, keeps_code_valid
from caveat.grammars.validity import parse_problems as _parse_problems

#: Alternatives offered per span (hover list, quick fixes, diagnostic message's first).
MAX_CHOICES = 5
#: Candidate tokens rolled out per span (some are dropped as invalid or equivalent).
CANDIDATES = 5


def normalize_code(text: str) -> str:
    """Key under which two snippets are the same code: no whitespace, one quote style."""
    return "".join(text.split()).replace("'", '"')


def replacement(text: str, span: TrackedSpan, rollout: Rollout) -> tuple[str, int] | None:
    """The whole-span text a rollout gives and where it starts, or None if it is no candidate.

    The span's text before its least sure token is kept. A token that starts before the span
    with blanks (` dict` for the span `dict`) has them dropped, so the replaced range is the
    span's own; one that reaches into other code before the span widens the range to it.
    """
    if not rollout.ended:
        return None  # did not close its unit within the lookahead
    try:
        tail = rollout.text.decode("utf-8")
    except UnicodeDecodeError:
        return None  # a rollout cut inside a character
    start = span.start
    if span.token_start >= span.start:
        new = text[span.start : span.token_start] + tail
    elif text[span.token_start : span.start].strip():
        start, new = span.token_start, tail
    else:
        new = tail.lstrip()
    original = text[start : span.end]
    if not original[-1:].isspace():
        new = new.rstrip()
    if "\n" in new and "\n" not in original:
        return None  # ran into the next line: no replacement for a one-line span
    if not new.strip() or normalize_code(new) == normalize_code(original):
        return None
    return new, start


def choices_from_rollouts(
    text: str,
    span: TrackedSpan,
    rollouts: Sequence[Rollout],
    language: str | None,
    problems: ParseProblems | None = None,
) -> tuple[Choice, ...]:
    """The valid, merged, ranked replacements of `span` that `rollouts` give."""
    if problems is None:
        problems = _parse_problems(text.encode("utf-8"), language)
    groups: dict[str, Choice] = {}
    for r in rollouts:
        found = replacement(text, span, r)
        if found is None:
            continue
        new, start = found
        if not keeps_code_valid(text, start, span.end, new, language, problems):
            continue
        choice = Choice(new, math.exp(r.logprobs[0]), start, span.end, r.score)
        key = normalize_code(new)
        old = groups.get(key)
        if old is not None:
            best = choice if choice.score > old.score else old
            choice = dataclasses.replace(best, probability=old.probability + choice.probability)
        groups[key] = choice
    ranked = sorted(groups.values(), key=lambda c: (-c.probability, -c.score))
    return tuple(ranked[:MAX_CHOICES])


def span_choices(
    engine: Backend,
    text: str,
    span: TrackedSpan,
    language: str | None,
    cancel: threading.Event | None = None,
    problems: ParseProblems | None = None,
) -> tuple[Choice, ...]:
    """Compute the replacements of one span of `text` with the model (see the module doc)."""
    if span.token_start < 0 or not span.candidates:
        return ()
    start = min(span.start, span.token_start)
    rollouts = rerank(
        engine,
        text[: span.token_start],
        span.candidates[:CANDIDATES],
        span_end_text=text[span.end :],
        k=CANDIDATES,
        lookahead=HOVER_LOOKAHEAD,
        cancel=cancel,
        language=language,
        depth0=bracket_depth(text[start : span.token_start]),
        inner=text[span.token_end : span.end],
    )
    return choices_from_rollouts(text, span, rollouts, language, problems)


def with_choices(
    engine: Backend,
    text: str,
    region: Region,
    language: str | None,
    cancel: threading.Event | None = None,
) -> Region:
    """The region with every span's replacements computed (`text` holds the region)."""
    problems = _parse_problems(text.encode("utf-8"), language)
    spans = tuple(
        span
        if span.choices is not None
        else dataclasses.replace(
            span, choices=span_choices(engine, text, span, language, cancel, problems)
        )
        for span in region.spans
    )
    return dataclasses.replace(region, spans=spans)
