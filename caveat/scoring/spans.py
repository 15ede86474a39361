"""Aggregate token measures over syntax units into scored, levelled spans.

Score of a unit = a low quantile (the minimum for fewer than ten tokens, else the 10th
percentile) of its tokens' relevance-weighted, equivalence-adjusted log-probabilities:
- low quantile, not the mean, because one bad token is what a user changes and the mean hides
  it ("Language Model Cascades: Token-level uncertainty and beyond");
- relevance from the syntax node kind and the token's own bytes: punctuation and brackets
  weigh little ("Shifting Attention to Relevance");
- alternatives that differ only in ways that do not change the program (quote style,
  whitespace, a trailing comma before a closing bracket) count as agreement
  (claim-conditioned probability, applied to code).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from caveat.grammars.align import Unit, align_tokens
from caveat.records.offsets import OffsetMap
from caveat.records.types import TokenRecord
from caveat.scoring.types import Basis, Level, Span, Thresholds, level_rank

# Relevance of a token by the kind of unit it belongs to: names, values and operators carry the
# meaning; statement and line units mostly collect keywords and glue.
KIND_RELEVANCE = {
    "identifier": 1.0,
    "literal": 1.0,
    "operator": 1.0,
    "call": 0.9,
    "argument": 0.9,
    "condition": 0.9,
    "statement": 0.8,
    "line": 0.8,
    "comment": 0.5,
}
PUNCTUATION_RELEVANCE = 0.3
_CLOSERS = ")]}>"
_QUANTILE = 0.1


def _normalize(data: bytes, before_closer: bool) -> bytes:
    """Bytes with program-neutral differences removed (whitespace, quote style)."""
    out = bytes(b for b in data if b not in b" \t\r\n").replace(b"'", b'"')
    return out.replace(b",", b"") if before_closer else out


def agreeing_logprob(record: TokenRecord, following: str = "") -> float:
    """log of p(chosen) plus the mass of top alternatives equivalent to it.

    `following` is the document text right after the token; a trailing comma counts as
    equivalent to none only when the next non-blank character closes a bracket.
    """
    nxt = following.lstrip()
    before_closer = bool(nxt) and nxt[0] in _CLOSERS
    mine = _normalize(record.bytes, before_closer)
    mass = math.exp(record.logprob)
    for alt in record.top:
        if alt.id != record.id and _normalize(alt.bytes, before_closer) == mine:
            mass += math.exp(alt.logprob)
    return min(0.0, math.log(mass)) if mass > 0 else record.logprob


def token_relevance(token: bytes, kind: str) -> float:
    """Relevance weight of a token in a unit of `kind` (0 for whitespace-only tokens)."""
    stripped = token.strip()
    if not stripped:
        return 0.0
    base = KIND_RELEVANCE.get(kind, 0.8)
    # Symbols are the meaning of an operator unit (`<` vs `<=`); elsewhere they are glue.
    if kind != "operator" and not any(chr(c).isalnum() or c >= 0x80 for c in stripped):
        return base * PUNCTUATION_RELEVANCE
    return base


def token_level(
    record: TokenRecord, thresholds: Thresholds, *, generated: bool = False
) -> Level | None:
    """Level of a single token, graded as a one-token span would be.

    Its equivalence-adjusted log-probability on the unit cut-offs, and for the model's own
    output (`generated`) also on the pick cut-offs, the more severe of the two counting.
    """
    level = thresholds.level_for(agreeing_logprob(record))
    pick = _pick_logprob(record) if generated else None
    if pick is not None:
        picked = thresholds.pick_level_for(pick)
        if level_rank(picked) > level_rank(level):
            level = picked
    return level


def score_units(
    text: str,
    language: str | None,
    records: Sequence[TokenRecord],
    start_byte: int,
    thresholds: Thresholds,
    *,
    generated: bool = False,
) -> list[Span]:
    """Every syntax unit touched by `records`, scored and levelled (level may be None).

    Unmerged and sorted by start; `find_spans` keeps the levelled ones and merges overlaps.
    `generated`: the records are the model's own output (a completion), so its picks are also
    graded on the pick cut-offs; scanned text (the default) is graded by span scores alone, and
    its comments and docstrings (kind "comment") get no level.
    """
    data = text.encode("utf-8")
    ranges = [
        (min(start_byte + r.offset, len(data)), min(start_byte + r.end, len(data))) for r in records
    ]
    units = align_tokens(data, language, ranges)
    groups: dict[Unit, list[tuple[int, float]]] = {}
    for i, (rec, unit, (_, end)) in enumerate(zip(records, units, ranges, strict=True)):
        if unit is None:
            continue
        weight = token_relevance(rec.bytes, unit.kind)
        following = data[end : end + 8].decode("utf-8", errors="ignore")
        groups.setdefault(unit, []).append((i, weight * agreeing_logprob(rec, following)))
    offsets = OffsetMap(data)
    spans = [
        _span(unit, toks, offsets, thresholds, records, generated) for unit, toks in groups.items()
    ]
    spans.sort(key=lambda s: (s.start, -s.end))
    return spans


def find_spans(
    text: str,
    language: str | None,
    records: Sequence[TokenRecord],
    start_byte: int,
    thresholds: Thresholds,
    *,
    generated: bool = False,
) -> list[Span]:
    """The uncertain spans of `records` in `text` (see docs/ENGINE_API.md), sorted by start.

    The levelled units, most doubtful first, none overlapping another (`select_spans`).
    `generated` as in `score_units`.
    """
    units = score_units(text, language, records, start_byte, thresholds, generated=generated)
    return select_spans(units)


def select_spans(units: Sequence[Span], budget: int | None = None) -> list[Span]:
    """The levelled units to underline: most edit-likely first, never overlapping, in budget.

    Ranked by the predicted edit probability where there is one, else by doubt; on a tie the
    smaller unit wins (it says more precisely where to look). A unit overlapping one already
    chosen is skipped, so every underline is one syntax unit with its own kind and numbers.
    `budget` caps the underlined characters (None: no cap): a unit that does not fit in what
    is left is skipped, however likely. Sorted by start.
    """
    ranked = sorted(
        (u for u in units if u.level is not None),
        key=lambda u: (-(u.edit if u.edit is not None else u.doubt), u.end - u.start, u.start),
    )
    chosen: list[Span] = []
    used = 0
    for unit in ranked:
        if any(unit.start < c.end and c.start < unit.end for c in chosen):
            continue
        size = unit.end - unit.start
        if budget is not None and used + size > budget:
            continue
        chosen.append(unit)
        used += size
    return sorted(chosen, key=lambda u: u.start)


def pick_level(record: TokenRecord, thresholds: Thresholds) -> Level | None:
    """Level of a token the model picked itself (a completion's top-1).

    A pick's own log-probability is bounded by the top-1's, so the span-score cut-offs (set on
    reference code) never reach it. Picks get their own cut-offs, set like the span ones on
    false alarms: the top-1 probabilities below which 10/5/2% of the model's *correct* picks on
    reference code fall. Equivalent alternatives count as agreement here too.
    """
    lp = _pick_logprob(record)
    return None if lp is None else thresholds.pick_level_for(lp)


def _pick_logprob(record: TokenRecord) -> float | None:
    """The equivalence-adjusted log-probability of a top-1 token, None for any other token."""
    if not record.top or record.top[0].id != record.id:
        return None
    return agreeing_logprob(record)


def _span(
    unit: Unit,
    toks: list[tuple[int, float]],
    offsets: OffsetMap,
    thresholds: Thresholds,
    records: Sequence[TokenRecord],
    generated: bool,
) -> Span:
    values = np.array([v for _, v in toks], dtype=np.float64)
    score = float(np.quantile(values, _QUANTILE, method="lower"))
    worst = toks[int(np.argmin(values))][0]
    level = thresholds.level_for(score)
    if unit.kind == "comment" and not generated:
        # Human prose in scanned code: scored (hover, token confidence) but not flagged; an
        # unusual comment is not a place the code is likely wrong.
        level = None
    # Pick cut-offs grade what the model wrote; scanned text is graded by its span score alone
    # (a scanned token that happens to be the top-1 is not a choice anyone made).
    pick = _pick_logprob(records[worst]) if generated else None
    basis: Basis = "unit"
    if pick is not None:
        picked = thresholds.pick_level_for(pick)
        if level_rank(picked) > level_rank(level):
            level = picked
        if thresholds.doubt(0.0, pick) > thresholds.doubt(score):
            basis = "pick"
    return Span(
        start=offsets.char(unit.start),
        end=offsets.char(unit.end, round_up=True),
        kind=unit.kind,
        score=score,
        probability=math.exp(score),
        level=level,
        token_indices=tuple(i for i, _ in toks),
        worst_token=worst,
        doubt=thresholds.doubt(score, pick),
        basis=basis,
    )
