"""Typed-ahead answers: when the rest of the shown completion is the answer, with which tokens."""

from __future__ import annotations

import dataclasses

import pytest

from caveat.annotate.typeahead import (
    Shown,
    ShownCompletions,
    continuation,
    records_after,
    typed_length,
)
from caveat.engine.types import Completion, HealingInfo, Timings
from caveat.records.types import TokenRecord

BEFORE = "def area(r):\n    return "
AFTER = "\n\nprint(area(2))\n"
DOC = BEFORE + AFTER
CURSOR = len(BEFORE)


def _records(pieces: list[str]) -> tuple[TokenRecord, ...]:
    """One record per piece, byte offsets as the engine writes them, distinct scores."""
    out, offset = [], 0
    for i, piece in enumerate(pieces):
        data = piece.encode("utf-8")
        out.append(TokenRecord(i + 10, data, offset, -0.1 * (i + 1), 0.2 * i, 1.0, ()))
        offset += len(data)
    return tuple(out)


def _completion(pieces: list[str]) -> Completion:
    return Completion(
        id="engine-7",
        text="".join(pieces),
        records=_records(pieces),
        prompt_mode="prefix",
        stop_reason="eos",
        timings=Timings(prefill_ms=12.0, total_ms=80.0, tokens_per_second=50.0),
        healing=HealingInfo(mode="byte", fragment=b"ret", cover_text="return"),
    )


SHOWN = Shown("c1", DOC, CURSOR, _completion(["math", ".pi", " *", " r", " **", " 2"]), "k")


def _typed(typed: str, after: str = AFTER) -> tuple[str, int]:
    """The document after typing `typed` at the shown cursor (and the new cursor)."""
    return BEFORE + typed + after, CURSOR + len(typed)


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        (*_typed(""), 0),  # asked again without typing
        (*_typed("m"), 1),
        (*_typed("math.p"), 6),
        (*_typed("math.pi * r ** 2"), 16),  # all of it: a hit, but nothing left to show
        (*_typed("x"), None),  # typed something else
        (*_typed("mx"), None),
        (BEFORE + "m" + AFTER, CURSOR, None),  # typed, but the cursor stayed behind
        (BEFORE + "ma" + AFTER, CURSOR + 1, None),
        (DOC, CURSOR - 1, None),  # cursor moved back
        ("def size(r):\n    return m" + AFTER, CURSOR + 1, None),  # edit before the cursor
        (*_typed("m", AFTER + "# note\n"), None),  # edit after the cursor
        (*_typed("m", AFTER[1:]), None),  # deleted after the cursor
        (*_typed("math.pi * r ** 2 "), None),  # typed past the end of the completion
    ],
)
def test_typed_length(text: str, offset: int, expected: int | None) -> None:
    assert typed_length(SHOWN, text, offset) == expected


@pytest.mark.parametrize(
    ("typed", "text", "tokens"),
    [
        ("", "math.pi * r ** 2", ["math", ".pi", " *", " r", " **", " 2"]),
        ("math", ".pi * r ** 2", [".pi", " *", " r", " **", " 2"]),
        # Typing into a token makes the rest of it the user's: that token's record goes.
        ("ma", "th.pi * r ** 2", [".pi", " *", " r", " **", " 2"]),
        ("math.pi * r *", "* 2", [" 2"]),
    ],
)
def test_continuation_is_the_rest_with_the_records_after_the_typed_part(
    typed: str, text: str, tokens: list[str]
) -> None:
    doc, cursor = _typed(typed)
    rest = continuation(SHOWN, doc, cursor, "c9")
    assert rest is not None
    assert rest.text == text
    assert [r.text for r in rest.records] == tokens
    # The records are the old ones, moved to offsets in the rest, and they spell its tail.
    old = {r.id: r for r in SHOWN.completion.records}
    shift = len(typed.encode("utf-8"))
    for record in rest.records:
        assert record == dataclasses.replace(old[record.id], offset=old[record.id].offset - shift)
        assert text.encode("utf-8")[record.offset : record.end] == record.bytes
    assert rest.id == "c9" and rest.stop_reason == "eos" and rest.prompt_mode == "prefix"
    # Nothing was prompted, healed or decoded for it.
    assert rest.healing == HealingInfo(mode="none") and rest.timings == Timings()


@pytest.mark.parametrize(
    ("typed", "answered"),
    [("m", True), ("math.pi * r ", True), ("x", False), ("math.pi * r **", False)],
)
def test_continuation_needs_a_non_blank_rest(typed: str, answered: bool) -> None:
    shown = dataclasses.replace(
        SHOWN, completion=_completion(["math", ".pi", " *", " r", " **", "  \n", "    "])
    )
    doc, cursor = _typed(typed)
    # A miss, or typing has reached the end and only whitespace is left: the model decides.
    assert (continuation(shown, doc, cursor, "c2") is not None) == answered


def test_multibyte_text_cuts_records_at_utf8_offsets() -> None:
    pieces = ["é", " =", " '", "😀", "世界", "'"]
    shown = Shown("c1", DOC, CURSOR, _completion(pieces), "k")
    doc, cursor = _typed("é = '😀")
    rest = continuation(shown, doc, cursor, "c3")
    assert rest is not None and rest.text == "世界'"
    assert [(r.text, r.offset) for r in rest.records] == [("世界", 0), ("'", 6)]


def test_records_that_do_not_spell_the_text_give_no_answer() -> None:
    # A lenient decode turned a lone byte into U+FFFD: chars and bytes no longer line up.
    bad = dataclasses.replace(_completion(["a", "b"]), text="a\ufffd")
    assert records_after(bad, 1) is None
    good = _completion(["a", "b"])
    assert records_after(good, 1) == (dataclasses.replace(good.records[1], offset=0),)


def test_continuing_twice_equals_continuing_once() -> None:
    """Typing in two steps (a cache answer in between) ends where typing in one step does."""
    full = SHOWN.completion.text
    for first in range(len(full)):
        for second in range(first, len(full)):
            doc1, cur1 = _typed(full[:first])
            step = continuation(SHOWN, doc1, cur1, "c2")
            doc2, cur2 = _typed(full[:second])
            once = continuation(SHOWN, doc2, cur2, "c3")
            if step is None:
                assert once is None and not full[first:].strip()
                continue
            twice = continuation(Shown("c2", doc1, cur1, step, "k"), doc2, cur2, "c3")
            assert twice is not None and once is not None
            assert (twice.text, twice.records) == (once.text, once.records)


def test_shown_completions_keep_the_newest_documents() -> None:
    store = ShownCompletions(limit=2)
    store.remember("a", SHOWN)
    store.remember("b", SHOWN)
    newer = dataclasses.replace(SHOWN, completion_id="c5")
    store.remember("a", newer)  # a is now the newest
    store.remember("c", SHOWN)
    assert len(store) == 2
    assert store.get("b") is None and store.get("a") == newer and store.get("c") == SHOWN
