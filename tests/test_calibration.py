"""Calibration math against hand-worked numbers, and threshold storage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from caveat.scoring import calibration as cal
from caveat.scoring.types import Thresholds


def test_balanced_logistic_fit_matches_hand_worked_solution() -> None:
    # Binary feature: the MLE reproduces the (class-weighted) positive rate in each group.
    # x=0: 6 positives, 2 negatives; x=1: 2 positives, 2 negatives. n=12, 8 pos, 4 neg.
    # Weights: positives 12/(2*8) = 0.75, negatives 12/(2*4) = 1.5.
    # x=0: 4.5 / (4.5 + 3) = 0.6       -> b0      = logit(0.6) = log 1.5
    # x=1: 1.5 / (1.5 + 3) = 1/3       -> b0 + b1 = logit(1/3) = log 0.5  -> b1 = -log 3
    x = np.array([0.0] * 8 + [1.0] * 4)
    y = np.array([True] * 6 + [False] * 2 + [True] * 2 + [False] * 2)
    b0, b1 = cal.fit_logistic(x, y)
    assert b0 == pytest.approx(math.log(1.5), abs=1e-5)
    assert b1 == pytest.approx(-math.log(3.0), abs=1e-5)
    # Unweighted: x=0 -> 6/8, x=1 -> 1/2.
    u0, u1 = cal.fit_logistic(x, y, balanced=False)
    assert u0 == pytest.approx(math.log(3.0), abs=1e-5)
    assert u0 + u1 == pytest.approx(0.0, abs=1e-5)
    # H* = (logit(p*) - b0) / b1; at p* = 0.5: log 1.5 / log 3.
    assert cal.cut_on_feature(b0, b1, 0.5) == pytest.approx(math.log(1.5) / math.log(3.0))


def test_balanced_accuracy_and_best_cut() -> None:
    y = np.array([True, True, True, False])
    assert cal.balanced_accuracy(np.array([True, True, False, False]), y) == pytest.approx(
        (2 / 3 + 1) / 2
    )
    p = np.array([0.9, 0.8, 0.3, 0.2])
    cut, acc = cal.best_cut(p, y)
    assert cut == pytest.approx(0.3)  # predicts the three positives, rejects the negative
    assert acc == pytest.approx(1.0)


def test_calibrate_recovers_a_planted_threshold() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    entropy = rng.uniform(0, 4, n)
    correct = rng.uniform(size=n) < 1 / (1 + np.exp(-(4.0 - 4.0 * entropy)))  # 50% at H=1
    top1 = -entropy * 0.5 + rng.normal(0, 0.05, n)
    units = -np.arange(1000) / 100.0  # 0.00 .. -9.99
    th = cal.calibrate(entropy, top1, correct, units, seed=1)
    assert th.beta1 < 0
    # Balanced weighting moves the intercept, not the slope; the cut lands near H = 1.
    assert th.beta1 == pytest.approx(-4.0, rel=0.15)
    assert 0.7 < th.entropy < 1.4
    assert th.balanced_accuracy > 0.8
    # levels sit at the 10% / 5% / 2% quantiles of reference-unit scores
    assert (th.hint, th.information, th.warning) == pytest.approx((-8.991, -9.4905, -9.7902))
    # pick cut-offs sit at the same quantiles of the top-1 log-probability of correct picks
    right = top1[correct]
    assert (th.pick_hint, th.pick_information, th.pick_warning) == pytest.approx(
        tuple(np.quantile(right, q) for q in (0.10, 0.05, 0.02))
    )
    assert th.samples == n


def test_calibrate_refuses_one_sided_data() -> None:
    with pytest.raises(ValueError):
        cal.calibrate(np.ones(50), np.zeros(50), np.ones(50, dtype=bool), np.zeros(50))


def test_threshold_storage_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cal.platformdirs, "user_cache_dir", lambda name: str(tmp_path / name))
    default = cal.load_thresholds("ab" * 32)
    assert default.source.startswith("default")
    mine = Thresholds(
        entropy=0.9,
        hint=-1.0,
        information=-2.0,
        warning=-3.0,
        model_sha256="ab" * 32,
        source="calibrated",
    )
    cal.save_thresholds(mine, cal.cache_path("ab" * 32))
    assert cal.load_thresholds("ab" * 32) == mine
    cal.cache_path("cd" * 32).write_text("{not json")
    assert cal.load_thresholds("cd" * 32).source != "calibrated"


def test_shipped_default_is_ordered() -> None:
    th = cal.shipped_default()
    assert th.warning <= th.information <= th.hint <= 0.0
    assert th.entropy > 0


def test_auroc_and_precision_hand_worked() -> None:
    from caveat.scoring.metrics import auroc, precision_at_count

    score = np.array([0.1, 0.4, 0.35, 0.8])
    label = np.array([False, False, True, True])
    # pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3/4
    assert auroc(score, label) == pytest.approx(0.75)
    assert auroc(np.ones(4), label) == pytest.approx(0.5)  # ties count half
    assert math.isnan(auroc(score, np.zeros(4, dtype=bool)))
    assert precision_at_count(score, label, 2) == pytest.approx(0.5)  # 0.8 (pos), 0.4 (neg)
    assert precision_at_count(score, label, 1) == pytest.approx(1.0)


def test_reference_corpus_and_mutations() -> None:
    import random

    from caveat.bench.edit_cases import wrong_chars
    from caveat.scoring.corpus import calibration_snippets, humaneval_problems, mutate

    problems = humaneval_problems()
    assert len(problems) == 164 and problems[0].task_id == "HumanEval/0"
    snippets = calibration_snippets(3, 2)
    assert len(snippets) == 5
    assert snippets[0].text.startswith(problems[0].prompt) and snippets[0].score_from > 0
    rng = random.Random(0)
    for p in problems[:20]:
        m = mutate(p, rng)
        assert m is not None
        assert m.text[m.start : m.end] == m.replacement != m.original
        assert m.text[: m.start] == (p.prompt + p.solution)[: m.start]
    generated = "    return sorted(x, key=len)"
    assert wrong_chars(generated, "    return sorted(lst, key=len)") == {18}
    assert wrong_chars("  a = 1", "a=1") == set()
