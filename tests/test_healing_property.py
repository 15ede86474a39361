"""Property: healing never changes the user's bytes; it only continues the fragment.

For any prefix, split_prefix + heal must give tokens that decode to exactly prefix + emitted,
whatever the mode, and the records must tile `emitted`. Checked with hypothesis on the toy BPE of
the brute-force tests (with a word boundary) and, in test_healing_model.py, on the real model.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_healing_bruteforce import MERGES, ToyBPE, ToyLM

from caveat.engine.healing import heal, split_prefix
from caveat.engine.healing.covers import _best_first
from caveat.engine.types import HealingMode

# A space that never merges into a word gives split_prefix a word boundary to respect.
TOK = ToyBPE((*MERGES, (b" ", b"a")), alphabet=b"abc ")
LM = ToyLM(TOK, max_len=10_000, masked=True, seed=11)
MODES: tuple[HealingMode, ...] = ("none", "token", "byte")


def check(prefix: bytes, mode: HealingMode) -> None:
    """Assert the healing invariants for one prefix and mode."""
    head, fragment = split_prefix(prefix, TOK)
    assert head + fragment == prefix
    assert TOK.encode(head) + TOK.encode(fragment) == TOK.encode(prefix)
    context = TOK.encode(head)
    res = heal(context, fragment, mode, TOK, LM)
    assert TOK.decode(context + list(res.tokens)) == prefix + res.emitted
    assert b"".join(r.bytes for r in res.records) == res.emitted
    offset = 0
    for r in res.records:
        assert r.offset == offset
        offset = r.end
    assert res.info.mode == mode
    if mode == "none":
        assert res.emitted == b"" and list(res.tokens) == TOK.encode(fragment)
    if mode == "byte" and fragment:
        # The winning cover is a real tokenization the tokenizer could have produced.
        assert TOK.canonical(res.tokens)


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=14).map(lambda b: bytes(b"abc "[x % 4] for x in b)))
def test_healing_preserves_prefix_bytes(prefix: bytes) -> None:
    """Every mode keeps the prefix byte-exact and only appends after it."""
    for mode in MODES:
        check(prefix, mode)


def test_fragment_starts_at_the_last_word() -> None:
    """The fragment is the trailing word (the space does not merge into it)."""
    head, fragment = split_prefix(b"ab cab", TOK)
    assert (head, fragment) == (b"ab ", b"cab")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([-math.inf, -3.0, -1.0, -0.5, 0.0]), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=45),
)
def test_best_first_is_a_stable_sort_cut_short(values: list[float], limit: int) -> None:
    """The candidate order healing tries (few values: many ties) is a stable sort's prefix."""
    scores = np.array(values, dtype=np.float64)
    got = _best_first(scores, limit).tolist()
    assert len(got) >= min(limit, len(values))
    assert got == np.argsort(-scores, kind="stable")[: len(got)].tolist()
    if len(got) > limit:  # only ties with the last one kept may run past the limit
        assert all(scores[k] == scores[got[limit - 1]] for k in got[limit:])
