"""Which parts of a document came from which completion, kept in step with edits.

Pure bookkeeping over character offsets (Python str indices): no LSP, no model. The server
converts LSP ranges to offsets at the edge and feeds each edit here in order.

Rules (docs/PROTOCOL.md): an edit before a span shifts it; an edit that overlaps a span removes
it (typing right at either edge of a span leaves it alone); deleting or replacing the whole
inserted region (an undo) forgets the insertion and all its spans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from caveat.records.types import Alternative
from caveat.scoring.types import Basis, Level

#: How many not-yet-accepted completions a document remembers for recognising insertions.
MAX_OFFERS = 8


@dataclass(frozen=True)
class Choice:
    """A replacement the model considered for a span: `text` replaces the chars [start, end).

    The one alternative type every surface shows. `probability` is the share of the model's
    next-token belief that went this way at the span's least sure token (equivalent candidates
    summed); `score` is the mean log-probability of the candidate and the tokens that complete
    it to the end of the unit (AdaDec's rerank score), used only to break ties.
    """

    text: str
    probability: float
    start: int
    end: int
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON form (character offsets into the document)."""
        return {
            "text": self.text,
            "probability": round(self.probability, 4),
            "score": round(self.score, 4),
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class TrackedSpan:
    """An uncertain syntax unit of accepted (or scanned) text, at its current place.

    `level` is None only for a unit listed without being underlined (`caveat complete --json`
    lists every scored unit). `token`, `token_probability`, `token_start`/`token_end` name the
    span's least sure token:
    the probability shown for the span is that token's. `doubt`, `basis` and `edit` say why the
    span has its level (see `Span`). `candidates` are the other tokens the model weighed at that
    token; `choices` are the whole-span replacements built from them by
    `caveat.annotate.alternatives` (None until computed, () when none keeps the code valid).
    """

    id: str
    completion_id: str
    start: int
    end: int
    level: Level | None
    kind: str
    score: float
    doubt: float
    basis: Basis
    chosen: str
    token: str
    token_probability: float
    token_start: int
    token_end: int
    candidates: tuple[Alternative, ...] = ()
    choices: tuple[Choice, ...] | None = None
    edit: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (character offsets; alternatives only once computed)."""
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "text": self.chosen,
            "kind": self.kind,
            "level": self.level,
            "doubt": round(self.edit if self.edit is not None else self.doubt, 4),
            "edit_probability": None if self.edit is None else round(self.edit, 4),
            "basis": self.basis,
            "score": round(self.score, 4),
            "token": {
                "text": self.token,
                "probability": round(self.token_probability, 4),
                "start": self.token_start,
                "end": self.token_end,
            },
        }
        if self.choices is not None:
            out["alternatives"] = [c.to_json() for c in self.choices]
        return out


@dataclass(frozen=True)
class TrackedToken:
    """One token of accepted text with its confidence, at its current place in the document."""

    start: int
    end: int
    logprob: float
    entropy: float
    level: Level | None


@dataclass(frozen=True)
class Region:
    """Text that one completion (or one scan) put in the document."""

    completion_id: str
    start: int
    end: int
    spans: tuple[TrackedSpan, ...]
    tokens: tuple[TrackedToken, ...]


@dataclass(frozen=True)
class Offer:
    """A completion shown to the user at `offset`; spans/tokens are relative to `offset`."""

    completion_id: str
    offset: int
    text: str
    spans: tuple[TrackedSpan, ...]
    tokens: tuple[TrackedToken, ...]


def map_range(start: int, end: int, a: int, b: int, n: int) -> tuple[int, int] | None:
    """Where [start, end) lands after [a, b) is replaced by n chars; None if the edit overlaps.

    Touching at the edges is not overlapping: an edit ending exactly at `start` shifts the
    range, one starting exactly at `end` leaves it as it is.
    """
    if b <= start:
        return start + n - (b - a), end + n - (b - a)
    if a >= end:
        return start, end
    return None


def shift_span(span: TrackedSpan, delta: int) -> TrackedSpan:
    """The span, its worst token and its choices moved by `delta` chars."""
    choices = (
        None
        if span.choices is None
        else tuple(
            dataclasses.replace(c, start=c.start + delta, end=c.end + delta) for c in span.choices
        )
    )
    moved = span.token_start >= 0
    return dataclasses.replace(
        span,
        start=span.start + delta,
        end=span.end + delta,
        choices=choices,
        token_start=span.token_start + delta if moved else -1,
        token_end=span.token_end + delta if moved else -1,
    )


def _shift_token(token: TrackedToken, delta: int) -> TrackedToken:
    """The token moved by `delta` chars."""
    return dataclasses.replace(token, start=token.start + delta, end=token.end + delta)


def _edit_region(region: Region, a: int, b: int, n: int) -> Region | None:
    """The region after one edit, or None when the edit removed or replaced all of it."""
    if a <= region.start and b >= region.end and b > a:
        return None
    delta = n - (b - a)
    spans = []
    for span in region.spans:
        moved = map_range(span.start, span.end, a, b, n)
        if moved is not None:
            spans.append(shift_span(span, moved[0] - span.start))
    tokens = []
    for token in region.tokens:
        moved = map_range(token.start, token.end, a, b, n)
        if moved is not None:
            tokens.append(_shift_token(token, moved[0] - token.start))
    # Text an edit puts over a boundary is the user's, not the completion's.
    if b <= region.start:
        start = region.start + delta
    elif a < region.start:
        start = a + n
    else:
        start = region.start
    if a >= region.end:
        end = region.end
    elif b <= region.end:
        end = region.end + delta
    else:
        end = a
    if end <= start:
        return None
    return Region(region.completion_id, start, end, tuple(spans), tuple(tokens))


def place_offer(offer: Offer, at: int) -> Region:
    """The region an offer becomes once its text sits in the document at `at`."""
    spans = tuple(shift_span(s, at) for s in offer.spans)
    tokens = tuple(_shift_token(t, at) for t in offer.tokens)
    return Region(offer.completion_id, at, at + len(offer.text), spans, tokens)


class DocumentProvenance:
    """The accepted completions of one document and the offers that may still be accepted."""

    def __init__(self, text: str) -> None:
        """Start tracking a document whose current text is `text`."""
        self.text = text
        self.regions: list[Region] = []
        self.offers: list[Offer] = []

    def add_offer(self, offer: Offer) -> None:
        """Remember a completion shown at `offer.offset` so its insertion can be recognised."""
        self.offers = [o for o in self.offers if o.completion_id != offer.completion_id]
        self.offers.append(offer)
        del self.offers[:-MAX_OFFERS]

    def apply_edit(self, a: int, b: int, new_text: str) -> bool:
        """Replace chars [a, b) by `new_text`; move or drop spans; recognise accepted offers.

        Returns True when the set of tracked spans or tokens changed (moved, removed or added).
        """
        n = len(new_text)
        self.text = self.text[:a] + new_text + self.text[b:]
        changed = False
        regions = []
        for region in self.regions:
            moved = _edit_region(region, a, b, n)
            if moved != region:
                changed = True
            if moved is not None:
                regions.append(moved)
        self.regions = regions
        offers = []
        for offer in self.offers:
            at = self._recognise(offer, a, b, new_text)
            if at is not None:
                self._record(place_offer(offer, at))
                changed = True
                continue
            offers.append(self._move_offer(offer, a, b, n))
        self.offers = offers
        return changed

    def _recognise(self, offer: Offer, a: int, b: int, new_text: str) -> int | None:
        """Where this edit inserted the offer's text, if it did (around the offer's offset)."""
        if not offer.text or not (a <= offer.offset <= b):
            return None
        best: int | None = None
        index = new_text.find(offer.text)
        while index >= 0:
            if best is None or abs(a + index - offer.offset) < abs(best - offer.offset):
                best = a + index
            index = new_text.find(offer.text, index + 1)
        return best

    @staticmethod
    def _move_offer(offer: Offer, a: int, b: int, n: int) -> Offer:
        """The offer after an edit that did not insert it: its anchor follows the text."""
        if b < offer.offset:
            return dataclasses.replace(offer, offset=offer.offset + n - (b - a))
        if a <= offer.offset:
            # A client may delete a typed prefix first and insert the completion next.
            return dataclasses.replace(offer, offset=a + n)
        return offer

    def _record(self, region: Region) -> None:
        """Add a region, replacing an earlier region of the same completion."""
        self.regions = [r for r in self.regions if r.completion_id != region.completion_id]
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.start)

    def accept(self, completion_id: str) -> bool | None:
        """Record that the client inserted an offered completion (the `caveat.accept` command).

        True: recorded now. False: already recorded (its insertion was recognised). None: the
        text is not in the document yet; the offer stays, and the insertion will be recognised
        when the edit arrives.
        """
        if any(r.completion_id == completion_id for r in self.regions):
            return False
        offer = next((o for o in self.offers if o.completion_id == completion_id), None)
        if offer is None or not offer.text:
            return None
        at = self._nearest(offer.text, offer.offset)
        if at is None:
            return None
        self._record(place_offer(offer, at))
        self.offers = [o for o in self.offers if o is not offer]
        return True

    def _nearest(self, needle: str, offset: int) -> int | None:
        """Start of the occurrence of `needle` closest to `offset`, preferring `offset` itself."""
        if self.text.startswith(needle, offset):
            return offset
        before = self.text.rfind(needle, 0, offset + len(needle))
        after = self.text.find(needle, offset)
        found = [i for i in (before, after) if i >= 0]
        return min(found, key=lambda i: abs(i - offset)) if found else None

    def replace_span(self, new: TrackedSpan) -> bool:
        """Swap in an updated span (same id, e.g. with reranked choices); False if it is gone."""
        for index, region in enumerate(self.regions):
            spans = tuple(new if s.id == new.id else s for s in region.spans)
            if spans != region.spans:
                self.regions[index] = dataclasses.replace(region, spans=spans)
                return True
        return False

    def record_scan(self, region: Region) -> None:
        """Replace the previous scan result (completion id of `region`) with a new one."""
        self._record(region)

    def clear(self) -> None:
        """Forget every region and offer."""
        self.regions.clear()
        self.offers.clear()

    def spans(self) -> Iterator[TrackedSpan]:
        """All tracked spans, in document order."""
        return iter(sorted((s for r in self.regions for s in r.spans), key=lambda s: s.start))

    def tokens(self) -> Iterator[TrackedToken]:
        """All tracked tokens, in document order."""
        return iter(sorted((t for r in self.regions for t in r.tokens), key=lambda t: t.start))

    def spans_at(self, start: int, end: int | None = None) -> list[TrackedSpan]:
        """Spans under a position, or overlapping [start, end), innermost first.

        A position at the boundary of two adjacent spans belongs to the one that starts there;
        a position just past a span's end still finds it when nothing else is there.
        """
        if end is not None and end > start:
            hits = [s for s in self.spans() if s.start < end and start < s.end]
        else:
            hits = [s for s in self.spans() if s.start <= start < s.end]
            if not hits:
                hits = [s for s in self.spans() if s.end == start]
        return sorted(hits, key=lambda s: s.end - s.start)

    def completion_ids(self) -> Iterable[str]:
        """Ids of the completions (and scans) that have text in the document."""
        return [r.completion_id for r in self.regions]
