"""Per-token measures against a float64 reference over the full vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from caveat.records.measures import make_work, token_measures

N_VOCAB = 262_144


def _reference(logits: np.ndarray, chosen: int, k: int) -> tuple[float, float, float, list[int]]:
    """Log-softmax in float64 the slow, obvious way."""
    x = logits.astype(np.float64)
    lse = np.log(np.exp(x - x.max()).sum()) + x.max()
    lp = x - lse
    p = np.exp(lp)
    entropy = float(-(p * lp).sum())
    order = np.argsort(-x, kind="stable")  # stable: ties keep the lower id first
    margin = float(lp[order[0]] - lp[order[1]])
    return float(lp[chosen]), entropy, margin, [int(i) for i in order[:k]]


def _row(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "peaked":  # one token far ahead: top-2 lies well outside any small window
        x = rng.standard_normal(n)
        x[n // 3] += 30.0
    elif kind == "lm-like":  # heavy upper tail like real LM logits
        x = rng.gumbel(size=n) * 2.5
    elif kind == "flat":
        x = rng.standard_normal(n) * 0.01
    elif kind == "ties":  # equal best logits: ties must resolve to the lower id
        x = rng.standard_normal(n)
        x[[7, n // 2, n - 1]] = 50.0
    elif kind == "two-way":
        x = rng.standard_normal(n) - 20.0
        x[[11, 12]] = [5.0, 4.9]
    else:
        raise AssertionError(kind)
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", ["peaked", "lm-like", "flat", "ties", "two-way"])
@pytest.mark.parametrize("n", [N_VOCAB, 50_000, 37])
def test_measures_match_reference(kind: str, n: int) -> None:
    logits = _row(kind, n, seed=n)
    before = logits.copy()
    work = make_work(N_VOCAB)
    chosen = 5
    got = token_measures(logits, chosen, 5, work)
    lp, entropy, margin, top = _reference(logits, chosen, 5)
    assert got.chosen == chosen
    assert got.logprob == pytest.approx(lp, abs=1e-5)
    assert got.entropy == pytest.approx(entropy, rel=1e-4, abs=1e-6)
    assert got.margin == pytest.approx(margin, abs=1e-5)
    assert list(got.top_ids) == top
    ref_lp = [_reference(logits, t, 1)[0] for t in top]
    assert np.allclose(got.top_logprobs, ref_lp, atol=1e-5)
    assert np.array_equal(logits, before), "logits must not be modified"


def test_greedy_when_no_choice() -> None:
    logits = _row("two-way", 1000, 0)
    got = token_measures(logits, None, 3)
    assert got.chosen == 11
    assert got.logprob == got.top_logprobs[0]
    assert got.margin == pytest.approx(0.1, abs=1e-4)


def test_uniform_distribution_has_log_n_entropy() -> None:
    got = token_measures(np.zeros(N_VOCAB, dtype=np.float32), 3, 4, make_work(N_VOCAB))
    assert got.entropy == pytest.approx(np.log(N_VOCAB), rel=1e-6)
    assert got.logprob == pytest.approx(-np.log(N_VOCAB), rel=1e-6)
    assert got.top_ids == (0, 1, 2, 3)
    assert got.margin == 0.0


def test_k_larger_than_vocab() -> None:
    got = token_measures(np.array([1.0, 3.0, 2.0], dtype=np.float32), 0, 10)
    assert got.top_ids == (1, 2, 0)
    assert sum(np.exp(got.top_logprobs)) == pytest.approx(1.0)


def test_masked_logits_are_ignored() -> None:
    logits = np.full(1000, -np.inf, dtype=np.float32)
    logits[[3, 9]] = [1.0, 1.0]
    got = token_measures(logits, 9, 3)
    assert got.entropy == pytest.approx(np.log(2.0))
    assert got.logprob == pytest.approx(-np.log(2.0))
    assert got.top_ids[:2] == (3, 9)


def test_typical_sampling_draws_only_from_the_typical_set() -> None:
    """typical_p keeps the tokens whose surprisal is nearest the entropy, as few as reach the mass.

    A mode over a long flat tail: the mode's surprisal is far below the entropy, so it is not
    typical and a small typical_p never draws it, while plain sampling mostly does.
    """
    import numpy as np

    from caveat.engine.decode import sample_token, typical_order

    probs = np.array([0.4] + [0.6 / 30] * 30)
    logits = np.log(probs).astype(np.float32)
    order = typical_order(probs)
    entropy = float(-(probs * np.log(probs)).sum())
    gaps = np.abs(-np.log(probs) - entropy)
    assert list(order) == list(np.argsort(gaps, kind="stable"))
    assert order[0] != 0  # the mode is not the most typical token here
    rng = np.random.default_rng(0)
    typical = {sample_token(logits, 1.0, 1.0, rng, typical_p=0.15) for _ in range(200)}
    kept = set(order[: int(np.searchsorted(np.cumsum(probs[order]), 0.15)) + 1].tolist())
    assert typical == kept and 0 not in typical
    rng = np.random.default_rng(1)
    plain = [sample_token(logits, 1.0, 1.0, rng) for _ in range(50)]
    assert 0 in plain
