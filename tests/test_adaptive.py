"""Adaptive (AdaDec) and cautious (CNTP) decoding against the real embedded model."""

from __future__ import annotations

import math
import threading

import pytest

from caveat.engine.decode import ADAPTIVE_LOOKAHEAD
from caveat.engine.engine import Engine
from caveat.engine.rollout import line_stop, roll_out
from caveat.engine.types import CompletionRequest
from caveat.records.measures import token_measures

PROMPT = '''def count_vowels(s):
    """Return how many vowels the string s contains."""
'''


def _req(**kw: object) -> CompletionRequest:
    kw.setdefault("max_tokens", 40)
    return CompletionRequest(prefix=PROMPT, healing="none", **kw)  # type: ignore[arg-type]


def test_infinite_threshold_equals_greedy(engine: Engine) -> None:
    greedy = engine.complete(_req())
    for mode in ("adaptive", "cautious"):
        other = engine.complete(_req(decoding=mode, entropy_threshold=math.inf))
        assert other.text == greedy.text
        assert other.records == greedy.records
        assert other.stop_reason == greedy.stop_reason


def test_adaptive_streams_exact_records(engine: Engine) -> None:
    streamed = []
    before = engine.stats.forward_passes
    c = engine.complete(_req(decoding="adaptive", entropy_threshold=0.0), on_token=streamed.append)
    assert streamed == list(c.records)
    assert b"".join(r.bytes for r in c.records).decode() == c.text
    for r in c.records:
        # Each record describes its own token under the full distribution of its context.
        # (the winner of a rerank is one of the top candidates, so it is in the record's top).
        assert next(a for a in r.top if a.id == r.id).logprob == pytest.approx(r.logprob)
        assert r.entropy >= 0 and r.logprob <= 0
    assert engine.stats.forward_passes - before > len(c.records) // 2


def test_adaptive_first_step_takes_the_best_rollout(engine: Engine) -> None:
    """With threshold 0 the first step is reranked: its token has the best mean logprob."""
    c = engine.complete(_req(decoding="adaptive", entropy_threshold=0.0, max_tokens=1))
    assert len(c.records) == 1
    ctx = engine.context_tokens(PROMPT)
    engine.runtime.sync(ctx)
    m = token_measures(engine.runtime.logits().copy(), None, 5, engine._work)
    floor = m.top_logprobs[0] + math.log(0.1)
    scores = {}
    for tok, lp in zip(m.top_ids[:3], m.top_logprobs[:3], strict=True):
        if lp >= floor:
            r = roll_out(
                engine.runtime,
                engine.vocab,
                engine._work,
                ctx,
                tok,
                lp,
                lookahead=ADAPTIVE_LOOKAHEAD,
                stop=line_stop,
            )
            scores[tok] = r.score
    assert c.records[0].id == max(scores, key=lambda t: scores[t])


def test_cautious_is_reproducible_with_a_seed(engine: Engine) -> None:
    a = engine.complete(_req(decoding="cautious", entropy_threshold=0.5, seed=7))
    b = engine.complete(_req(decoding="cautious", entropy_threshold=0.5, seed=7))
    assert a.text == b.text and a.records == b.records
    assert b"".join(r.bytes for r in a.records).decode() == a.text


def test_cancel_inside_a_rollout(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = threading.Event()
    calls = {"before": 0, "after": 0}
    original = engine.runtime.append

    def append(token: int) -> None:
        calls["after" if cancel.is_set() else "before"] += 1
        original(token)
        if calls["before"] == 2:
            cancel.set()

    monkeypatch.setattr(engine.runtime, "append", append)
    c = engine.complete(_req(decoding="adaptive", entropy_threshold=0.0), cancel=cancel)
    assert c.stop_reason == "cancelled"
    assert calls == {"before": 2, "after": 0}
