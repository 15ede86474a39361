"""A completion or a scan turned into what a document tracks: spans and token confidences.

The one span pipeline (records → scored syntax units → tracked spans with their least sure
token), used by the language server, `caveat scan`, `caveat complete --json` and the
benchmarks. Character offsets only; the server converts them to LSP positions.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

from caveat.annotate.provenance import Offer, Region, TrackedSpan, TrackedToken, shift_span
from caveat.records.offsets import OffsetMap
from caveat.records.types import TokenRecord
from caveat.scoring.features import grade_completion
from caveat.scoring.spans import score_units, select_spans, token_level
from caveat.scoring.types import Span, Thresholds, level_rank

logger = logging.getLogger(__name__)

#: Provenance id of a document's scan: a new scan replaces the previous one.
SCAN_ID = "scan"


def track(
    completion_id: str,
    text: str,
    base: int,
    records: Sequence[TokenRecord],
    spans: Sequence[Span],
    thresholds: Thresholds,
    length: int,
    *,
    generated: bool = False,
    every_unit: bool = False,
) -> Region:
    """The region of `length` chars at char offset `base` of `text`, with spans and tokens.

    `text` is the document with the completion in place; record offsets are UTF-8 bytes from
    `base`; span offsets are chars in `text`. The result keeps absolute offsets in `text`.
    Spans without a level are left out unless `every_unit`. `generated` as in `find_spans`.
    """
    head = text[base : base + length].encode("utf-8")
    offsets = OffsetMap(head)
    tokens: list[TrackedToken] = []
    ranges: list[tuple[int, int]] = []
    for record in records:
        start = base + offsets.char(min(record.offset, len(head)))
        end = base + offsets.char(min(record.end, len(head)), round_up=True)
        ranges.append((start, end))
        level = token_level(record, thresholds, generated=generated)
        tokens.append(TrackedToken(start, end, record.logprob, record.entropy, level))
    tracked: list[TrackedSpan] = []
    for index, span in enumerate(spans):
        if (span.level is None and not every_unit) or not 0 <= span.worst_token < len(records):
            continue
        worst = records[span.worst_token]
        tok_start, tok_end = ranges[span.worst_token]
        tracked.append(
            TrackedSpan(
                id=f"{completion_id}.{index}",
                completion_id=completion_id,
                start=span.start,
                end=span.end,
                level=span.level,
                kind=span.kind,
                score=span.score,
                doubt=span.doubt,
                basis=span.basis,
                chosen=text[span.start : span.end],
                token=text[tok_start:tok_end],
                token_probability=math.exp(worst.logprob),
                token_start=tok_start,
                token_end=tok_end,
                candidates=tuple(a for a in worst.top if a.id != worst.id),
                edit=span.edit,
            )
        )
    # The least sure token of an underlined span shows at least the span's level, so graded
    # decorations (caveat/tokenConfidence) and diagnostics agree (an edit-predicted level
    # comes from the whole unit, not from one token's probability).
    for span in spans:
        if span.level is not None and 0 <= span.worst_token < len(tokens):
            token = tokens[span.worst_token]
            if level_rank(span.level) > level_rank(token.level):
                tokens[span.worst_token] = dataclasses.replace(token, level=span.level)
    return Region(completion_id, base, base + length, tuple(tracked), tuple(tokens))


def scored_units(
    text: str,
    base: int,
    records: Sequence[TokenRecord],
    language: str | None,
    thresholds: Thresholds,
    length: int,
    *,
    generated: bool,
) -> tuple[list[Span], list[Span]]:
    """Every scored unit of `records` (bytes from char `base` of `text`), and those underlined.

    A completion's units are graded by the model's edit predictor when it has one, and at most
    `Thresholds.edit_budget` of its characters are underlined, the most edit-likely units first;
    a scan's levelled units are underlined by doubt. Underlined units never overlap.
    """
    start_byte = len(text[:base].encode("utf-8"))
    units = score_units(text, language, records, start_byte, thresholds, generated=generated)
    if not generated:
        return units, select_spans(units)
    units = grade_completion(units, records, text, base, base + length, thresholds)
    return units, select_spans(units, thresholds.edit_budget_chars(length))


def annotate(
    completion_id: str,
    text: str,
    base: int,
    records: Sequence[TokenRecord],
    language: str | None,
    thresholds: Thresholds,
    length: int,
    *,
    generated: bool,
) -> Region:
    """Score `records` (bytes from char `base` of `text`) into a tracked region.

    A failure to align or score leaves the region without spans (logged), never broken.
    """
    try:
        _, spans = scored_units(
            text, base, records, language, thresholds, length, generated=generated
        )
    except Exception:
        logger.exception("scoring spans failed for %s; no spans for it", completion_id)
        spans = []
    return track(completion_id, text, base, records, spans, thresholds, length, generated=generated)


def offer_from_region(region: Region, completion_text: str) -> Offer:
    """The region expressed relative to its start, as an offer waiting for acceptance."""
    shift = -region.start
    spans = tuple(shift_span(s, shift) for s in region.spans)
    tokens = tuple(
        dataclasses.replace(t, start=t.start + shift, end=t.end + shift) for t in region.tokens
    )
    return Offer(region.completion_id, region.start, completion_text, spans, tokens)
