"""From engine records and scored spans to what the server tracks and sends.

Turns a completion (or a scan) into provenance objects with character offsets, and into the
JSON of `caveat/complete` tokens with UTF-16 offsets. No LSP transport here, only values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from caveat.engine.types import TokenRecord
from caveat.scoring.spans import token_level
from caveat.scoring.types import Span, Thresholds
from caveat.server.positions import byte_to_char, char_end, utf16_len
from caveat.server.provenance import (
    Choice,
    Offer,
    Region,
    TrackedSpan,
    TrackedToken,
    shift_span,
)

#: Alternatives offered per span (hover list and quick fixes).
MAX_CHOICES = 5


def _choices(
    span: Span,
    record: TokenRecord | None,
    text: str,
    token_range: tuple[int, int] | None,
) -> tuple[Choice, ...]:
    """Replacements for a span: reranked ones if present, else the worst token's raw top-k.

    A raw alternative replaces the worst token inside the span's text; when the token sticks
    out of the span (a leading space), the replaced range covers both.
    """
    if span.alternatives:
        return tuple(
            Choice(a.text, a.probability, span.start, span.end)
            for a in span.alternatives[:MAX_CHOICES]
        )
    if record is None or token_range is None:
        return ()
    tok_start, tok_end = token_range
    start, end = min(span.start, tok_start), max(span.end, tok_end)
    out: list[Choice] = []
    for alt in record.top:
        if alt.id == record.id or "\ufffd" in alt.text or alt.text == record.text:
            continue
        replaced = text[start:tok_start] + alt.text + text[tok_end:end]
        if not replaced.strip() or replaced == text[start:end]:
            continue
        out.append(Choice(replaced, math.exp(alt.logprob), start, end))
        if len(out) == MAX_CHOICES:
            break
    return tuple(out)


def track(
    completion_id: str,
    text: str,
    base: int,
    records: Sequence[TokenRecord],
    spans: Sequence[Span],
    thresholds: Thresholds,
    length: int,
) -> Region:
    """The region of `length` chars at char offset `base` of `text`, with spans and tokens.

    `text` is the document with the completion in place; record offsets are UTF-8 bytes from
    `base`; span offsets are chars in `text`. The result keeps absolute offsets in `text`.
    """
    table = byte_to_char(text[base : base + length])
    tokens: list[TrackedToken] = []
    ranges: list[tuple[int, int]] = []
    for record in records:
        start = base + table[min(record.offset, len(table) - 1)]
        end = base + char_end(table, record.end)
        ranges.append((start, end))
        tokens.append(
            TrackedToken(
                start, end, record.logprob, record.entropy, token_level(record, thresholds)
            )
        )
    tracked: list[TrackedSpan] = []
    for index, span in enumerate(spans):
        if span.level is None:
            continue
        worst = span.worst_token if 0 <= span.worst_token < len(records) else None
        worst_record = records[worst] if worst is not None else None
        token_range = ranges[worst] if worst is not None else None
        tracked.append(
            TrackedSpan(
                id=f"{completion_id}.{index}",
                completion_id=completion_id,
                start=span.start,
                end=span.end,
                level=span.level,
                kind=span.kind,
                probability=span.probability,
                score=span.score,
                chosen=text[span.start : span.end],
                choices=_choices(span, worst_record, text, token_range),
                token_start=token_range[0] if token_range else -1,
                token_end=token_range[1] if token_range else -1,
                reranked=bool(span.alternatives),
            )
        )
    return Region(completion_id, base, base + length, tuple(tracked), tuple(tokens))


def offer_from_region(region: Region, completion_text: str) -> Offer:
    """The region expressed relative to its start, as an offer waiting for acceptance."""
    shift = -region.start
    spans = tuple(shift_span(s, shift) for s in region.spans)
    tokens = tuple(
        dataclasses.replace(t, start=t.start + shift, end=t.end + shift) for t in region.tokens
    )
    return Offer(region.completion_id, region.start, completion_text, spans, tokens)


def token_json(
    record: TokenRecord, completion_text: str, thresholds: Thresholds | None
) -> dict[str, Any]:
    """One `caveat/complete` token: text, UTF-16 offset in the completion, scores, level."""
    table = byte_to_char(completion_text)
    start = table[min(record.offset, len(table) - 1)]
    level = token_level(record, thresholds) if thresholds is not None else None
    return {
        "text": record.text,
        "offset": utf16_len(completion_text[:start]),
        "logprob": record.logprob,
        "entropy": record.entropy,
        "level": level,
    }
