"""Rerank on hover: unit-end rules and merging (pure), then the real model's alternatives."""

from __future__ import annotations

import threading

import pytest
import tree_sitter as ts
import tree_sitter_python

from caveat.engine import Engine, EngineCancelled
from caveat.engine.rerank import (
    RankedAlternative,
    merge_ranked,
    normalize_code,
    rerank,
    span_alternatives,
    unit_stop,
)
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.spans import find_spans

PY = ts.Language(tree_sitter_python.language())


def _errors(code: str) -> int:
    """ERROR and MISSING nodes in a Python parse (independent of the module under test)."""
    tree = ts.Parser(PY).parse(code.encode())
    count, stack = 0, [tree.root_node]
    while stack:
        node = stack.pop()
        count += node.is_error or node.is_missing
        stack.extend(node.children)
    return count


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


def test_merge_equivalent_snippets() -> None:
    items = [
        RankedAlternative("f('a')", -0.5, 0.3, (1,)),
        RankedAlternative('f("a")', -0.9, 0.2, (2,)),
        RankedAlternative("g(a)", -0.7, 0.4, (3,)),
        RankedAlternative("f( 'a' )", -0.4, 0.1, (4,)),
    ]
    merged = merge_ranked(items)
    assert [m.text for m in merged] == ["f( 'a' )", "g(a)"]
    assert merged[0].probability == pytest.approx(0.6)
    assert merged[0].score == -0.4
    assert normalize_code("f( 'a' )") == normalize_code('f("a")')


PREFIX = "import os\n\nfiles = os.listdir("


def test_rerank_ranks_distinct_alternatives(engine: Engine) -> None:
    ranked = rerank(engine, PREFIX, span_end_text=")\n", language="python")
    assert len(ranked) >= 2
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert len({normalize_code(r.text) for r in ranked}) == len(ranked)
    for r in ranked:
        assert r.score <= 0 and 0 < r.probability <= 1
        assert engine.vocab.decode(r.tokens).decode("utf-8", "replace").startswith(r.text)


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
    from caveat.engine.types import Alternative

    cands = [Alternative(i, engine.vocab.token_bytes[i], 0.0) for i in ids[:2]]
    again = rerank(engine, PREFIX, cands, k=2, lookahead=1)
    assert {r.tokens[0] for r in again} <= set(ids[:2])
    for r in again:
        match = next(t for t in top if t.tokens[0] == r.tokens[0])
        assert r.probability == pytest.approx(match.probability, rel=1e-3)


SAMPLE = """def mean(numbers):
    total = 0
    for x in range(len(numbers)):
        total += numbers[x]
    return total / len(numbers)
"""


def test_span_alternatives_are_complete_units(engine: Engine) -> None:
    records = engine.scan(SAMPLE)
    spans = find_spans(SAMPLE, "python", records, 0, load_thresholds(engine.info.sha256))
    assert spans, "the sample has no uncertain span"
    base = _errors(SAMPLE)
    multi = 0
    for span in spans[:4]:  # each hover costs up to 3 x 16 model steps
        alts = span_alternatives(engine, SAMPLE, span, records, language="python")
        assert [a.score for a in alts] == sorted((a.score for a in alts), reverse=True)
        original = SAMPLE[span.start : span.end]
        for a in alts:
            assert normalize_code(a.text) != normalize_code(original)
            doc = SAMPLE[: span.start] + a.text + SAMPLE[span.end :]
            assert _errors(doc) <= base, doc
        multi += len({normalize_code(a.text) for a in alts}) >= 2
        if multi:
            break
    assert multi >= 1, "no span got two distinct alternatives"


def test_cancel_stops_within_one_decode_step(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancel = threading.Event()
    evals: list[str] = []
    after_cancel: list[str] = []
    orig_append, orig_sync = engine.runtime.append, engine.runtime.sync

    def append(token: int) -> None:
        (after_cancel if cancel.is_set() else evals).append("append")
        orig_append(token)
        if len(evals) == 3:
            cancel.set()

    def sync(tokens: list[int]) -> int:
        (after_cancel if cancel.is_set() else evals).append("sync")
        return orig_sync(tokens)

    monkeypatch.setattr(engine.runtime, "append", append)
    monkeypatch.setattr(engine.runtime, "sync", sync)
    with pytest.raises(EngineCancelled):
        rerank(engine, PREFIX, k=3, lookahead=8, cancel=cancel)
    assert len(evals) == 3
    assert after_cancel == [], "an evaluation ran after the cancel flag was set"
