"""Rerank rollouts: unit-end rules (pure), then the real model's rollouts."""

from __future__ import annotations

import pytest

from caveat.engine.engine import Engine
from caveat.engine.rerank import rerank
from caveat.engine.rollout import unit_stop


def _starts(pieces: list[str]) -> tuple[bytes, list[int]]:
    """Text and token start offsets of a rollout given as token strings."""
    starts, pos = [], 0
    for p in pieces:
        starts.append(pos)
        pos += len(p.encode())
    return "".join(pieces).encode(), starts


@pytest.mark.parametrize(
    ("pieces", "depth0", "rest", "inner", "cut"),
    [
        (["n", ")", ":"], 0, ")", "", 1),  # a bracket opened outside the unit closes
        (["len", "(", "xs", ")", ")"], 0, "", "", 7),  # own brackets balance first
        (["0", ")", " +"], 1, "", "", 2),  # `range(` ... the unit's own bracket closes
        (["y", " =", " 1"], 0, " = 1\n", "", 1),  # the rollout rejoins the document
        (["a", ",", " b"], 0, "", "", 1),  # separator on the unit's level
        (["a", ",", " b"], 1, "", "", None),  # ... but not inside its brackets
        (["main", "(", "x", "):", "\n"], 0, "\n", "(x):", 8),  # `:` is part of the unit
        (["foo", "(", "'a,b'"], 0, "", "", None),  # separators inside strings do not count
        (["x", " +", " 1", "\n", "y"], 0, "", "", 5),  # a line end after code
    ],
)
def test_unit_stop(pieces: list[str], depth0: int, rest: str, inner: str, cut: int | None) -> None:
    text, starts = _starts(pieces)
    assert unit_stop(depth0, rest, "python", inner)(text, starts) == cut


PREFIX = "import os\n\nfiles = os.listdir("


def test_rerank_completes_each_candidate_to_the_unit_end(engine: Engine) -> None:
    rollouts = rerank(engine, PREFIX, span_end_text=")\n", language="python")
    assert len(rollouts) == 3
    logprobs = [r.logprobs[0] for r in rollouts]
    assert logprobs == sorted(logprobs, reverse=True)  # the top-k, best first
    for r in rollouts:
        assert r.score <= 0 and all(lp <= 0 for lp in r.logprobs)
        assert engine.vocab.decode(r.tokens).startswith(r.text)
        # A rollout stops before the call's own closing bracket: it never closes more than
        # it opens.
        assert r.text.count(b"(") >= r.text.count(b")")


def test_rerank_is_deterministic_and_reuses_the_prefix(engine: Engine) -> None:
    first = rerank(engine, PREFIX, span_end_text=")\n", language="python")
    before = engine.stats.prompt_tokens_evaluated
    second = rerank(engine, PREFIX, span_end_text=")\n", language="python")
    assert first == second
    # The shared prefix stays cached: only candidate tokens are evaluated again.
    assert engine.stats.prompt_tokens_evaluated - before <= 2 * len(second)


def test_given_candidates_are_rescored_in_context(engine: Engine) -> None:
    top = rerank(engine, PREFIX, k=5, lookahead=1)
    ids = [r.tokens[0] for r in top]
    from caveat.records.types import Alternative

    cands = [Alternative(i, engine.vocab.token_bytes[i], 0.0) for i in ids[:2]]
    again = rerank(engine, PREFIX, cands, k=2, lookahead=1)
    assert {r.tokens[0] for r in again} <= set(ids[:2])
    for r in again:
        match = next(t for t in top if t.tokens[0] == r.tokens[0])
        assert r.logprobs[0] == pytest.approx(match.logprobs[0], abs=1e-3)
