"""Ranking metrics for the signal benchmark (numpy only, no scipy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def average_ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1-based ranks of `x`, ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def auroc(score: npt.NDArray[np.float64], label: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve of `score` (higher = more likely positive); nan if one class."""
    pos = int(label.sum())
    neg = len(label) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = average_ranks(np.asarray(score, dtype=np.float64))
    return float((ranks[label].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def precision_at_count(
    score: npt.NDArray[np.float64], label: npt.NDArray[np.bool_], count: int
) -> float:
    """Precision of the `count` highest-scoring items (ties broken by order); nan if count 0."""
    if count <= 0:
        return float("nan")
    top = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")[:count]
    return float(label[top].mean())
