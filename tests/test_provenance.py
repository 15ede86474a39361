"""Provenance bookkeeping: spans of accepted completions follow the edits made around them."""

from __future__ import annotations

import dataclasses

import pytest

from caveat.annotate.provenance import (
    MAX_OFFERS,
    Choice,
    DocumentProvenance,
    Offer,
    TrackedSpan,
    TrackedToken,
    map_range,
)

COMPLETION = "return total / count"
#            0123456789...: "total" is chars 7..12 of the completion, "count" 15..20


def _offer(offset: int = 4, cid: str = "c1", text: str = COMPLETION) -> Offer:
    """An offer with one flagged span over `total` and two tokens, relative to its offset."""
    span = TrackedSpan(
        id=f"{cid}-s0",
        completion_id=cid,
        start=7,
        end=12,
        level="warning",
        kind="identifier",
        score=-1.6,
        doubt=1.8,
        basis="pick",
        chosen="total",
        token=" total",
        token_probability=0.2,
        choices=(Choice("sum", 0.3, 7, 12),),
        token_start=6,
        token_end=12,
    )
    tokens = (TrackedToken(0, 6, -0.1, 0.2, None), TrackedToken(7, 12, -1.6, 2.0, "warning"))
    return Offer(cid, offset, text, (span,), tokens)


def _accepted(prefix: str = "    ", suffix: str = "\n") -> DocumentProvenance:
    """A document where COMPLETION was offered after `prefix` and inserted by one edit."""
    doc = DocumentProvenance(prefix + suffix)
    doc.add_offer(_offer(len(prefix)))
    assert doc.apply_edit(len(prefix), len(prefix), COMPLETION)
    return doc


def _span_text(doc: DocumentProvenance) -> list[str]:
    """The document text under each tracked span."""
    return [doc.text[s.start : s.end] for s in doc.spans()]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ((0, 0, 2), (12, 17)),  # insertion before: shift
        ((0, 3, 0), (7, 12)),  # deletion before: shift back
        ((10, 10, 1), (11, 16)),  # insertion touching the start: shift
        ((15, 15, 3), (10, 15)),  # insertion touching the end: unchanged
        ((20, 22, 0), (10, 15)),  # edit after: unchanged
        ((11, 11, 1), None),  # typing inside: gone
        ((9, 11, 0), None),  # deletion overlapping the start: gone
        ((14, 16, 5), None),  # replacement overlapping the end: gone
        ((0, 30, 1), None),  # replacement covering it: gone
    ],
)
def test_map_range(edit: tuple[int, int, int], expected: tuple[int, int] | None) -> None:
    """An edit before a span shifts it, an edit overlapping it removes it."""
    assert map_range(10, 15, *edit) == expected


def test_recognised_insertion_records_spans_at_document_offsets() -> None:
    """Inserting the offered text at its offset is recognised as acceptance."""
    doc = _accepted()
    assert [(s.start, s.end) for s in doc.spans()] == [(11, 16)]
    assert _span_text(doc) == ["total"]
    assert [doc.text[t.start : t.end] for t in doc.tokens()] == ["return", "total"]
    assert doc.spans().__next__().choices == (Choice("sum", 0.3, 11, 16),)
    assert doc.offers == []
    assert doc.accept("c1") is False  # the command arriving afterwards changes nothing


def test_accept_command_after_insertion_without_recognition() -> None:
    """A full-text change the server could not attribute is found by the accept command."""
    doc = DocumentProvenance("    \n")
    doc.add_offer(_offer(4))
    # A client that replaces the whole line (typed prefix and all) in one change.
    assert doc.apply_edit(0, 5, "x = 1\n") is False
    doc.apply_edit(0, 6, "    " + COMPLETION + "\n")
    assert _span_text(doc) == ["total"]


def test_accept_command_before_the_edit_waits_for_it() -> None:
    """An accept that arrives before the inserting edit is settled by that edit."""
    doc = DocumentProvenance("    \n")
    doc.add_offer(_offer(4))
    assert doc.accept("c1") is None
    assert list(doc.spans()) == []
    assert doc.apply_edit(4, 4, COMPLETION)
    assert _span_text(doc) == ["total"]


def test_accept_finds_the_text_already_in_place() -> None:
    """Accepting an offer whose text is already where it was offered records it directly."""
    doc = DocumentProvenance("    " + COMPLETION + "\n")
    doc.add_offer(_offer(4))
    assert doc.accept("c1") is True
    assert _span_text(doc) == ["total"]
    assert doc.accept("unknown") is None


def test_insertion_replacing_typed_prefix_is_recognised() -> None:
    """Clients may replace the word before the cursor with prefix + completion."""
    doc = DocumentProvenance("    ret\n")
    doc.add_offer(_offer(7, text=COMPLETION[3:]))
    assert doc.apply_edit(4, 7, COMPLETION)
    span = next(doc.spans())
    # Offsets are relative to the offered text: they land 7 chars after the offer offset.
    assert (span.start, span.end) == (14, 19)


@pytest.mark.parametrize(
    ("edit", "texts"),
    [
        ((0, 0, "# note\n"), ["total"]),  # a line above: shifted, still there
        ((0, 4, ""), ["total"]),  # indentation removed before it
        ((13, 13, "x"), []),  # typing inside `total`
        ((11, 16, "sum"), []),  # replacing it
        ((19, 19, " "), ["total"]),  # typing after it, inside the completion
        ((len("    " + COMPLETION), len("    " + COMPLETION), "  # ok"), ["total"]),
    ],
)
def test_edits_move_or_drop_spans(edit: tuple[int, int, str], texts: list[str]) -> None:
    """Edits before shift, edits inside remove, and the text under spans stays the same."""
    doc = _accepted()
    doc.apply_edit(*edit)
    assert _span_text(doc) == texts


def test_undo_removes_everything_of_the_insertion() -> None:
    """Deleting exactly the inserted text forgets the region, its spans and its tokens."""
    doc = _accepted()
    assert doc.apply_edit(4, 4 + len(COMPLETION), "")
    assert list(doc.spans()) == [] and list(doc.tokens()) == [] and doc.regions == []
    assert doc.text == "    \n"


def test_shrinking_edit_keeps_unrelated_spans() -> None:
    """Deleting the tail of the completion keeps the spans before the deletion."""
    doc = _accepted()
    doc.apply_edit(17, 4 + len(COMPLETION), "")
    assert _span_text(doc) == ["total"]
    assert doc.regions[0].end == 17


def test_spans_at_returns_innermost_first() -> None:
    """Hover and code actions ask for the spans under a position."""
    doc = _accepted()
    assert [s.chosen for s in doc.spans_at(13)] == ["total"]
    assert doc.spans_at(11) and doc.spans_at(16)
    assert doc.spans_at(3) == []
    assert [s.chosen for s in doc.spans_at(0, 12)] == ["total"]


def test_offers_are_bounded_and_follow_edits() -> None:
    """Old offers are forgotten; kept ones move with text inserted before them."""
    doc = DocumentProvenance("\n" * 3)
    for i in range(MAX_OFFERS + 3):
        doc.add_offer(_offer(2, cid=f"c{i}"))
    assert len(doc.offers) == MAX_OFFERS
    assert doc.offers[0].completion_id == "c3"
    doc.apply_edit(0, 0, "ab")
    assert {o.offset for o in doc.offers} == {4}


def test_clear_and_scan() -> None:
    """A scan region replaces the previous scan; clear forgets everything."""
    doc = _accepted()
    scan = doc.regions[0]
    doc.record_scan(scan)
    assert len(doc.regions) == 1
    doc.clear()
    assert list(doc.spans()) == [] and doc.offers == []


def test_worst_token_moves_with_its_span_and_computed_choices_replace_it() -> None:
    """The worst token range follows edits; replace_span swaps in computed choices by id."""
    doc = _accepted()
    doc.apply_edit(0, 0, "##")
    span = next(doc.spans())
    assert (span.token_start, span.token_end) == (12, 18)
    assert doc.text[span.token_start : span.token_end] == " total"
    better = dataclasses.replace(span, choices=(Choice("count", 0.5, 13, 18),))
    assert doc.replace_span(better)
    assert next(doc.spans()).choices == better.choices
    doc.apply_edit(14, 14, "x")
    assert not doc.replace_span(better)
