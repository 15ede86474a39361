"""The edit predictor: P(a user changes this unit) from its features (logistic regression).

Fitted per model by `caveat calibrate` on the calibration half of next-line completions of
reference code (`caveat.bench.edit_cases`): a unit is positive when it differs from the
reference line. Unweighted L2-regularised logistic regression on standardised features, so the
output reads as a probability ("caveat estimates a 62% chance this changes"); Newton's method
(IRLS), numpy only, deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EditPredictor:
    """A fitted predictor: feature names, standardisation, weights and bias."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, x: Array) -> float:
        """P(edit) for one feature vector (in `names` order)."""
        z = (np.asarray(x, dtype=np.float64) - np.array(self.mean)) / np.array(self.scale)
        t = float(z @ np.array(self.weights)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, t))))

    def probabilities(self, x: Array) -> Array:
        """P(edit) for each row of a feature matrix."""
        z = (np.asarray(x, dtype=np.float64) - np.array(self.mean)) / np.array(self.scale)
        t = np.clip(z @ np.array(self.weights) + self.bias, -50.0, 50.0)
        out: Array = 1.0 / (1.0 + np.exp(-t))
        return out


def fit_predictor(
    x: Array, y: npt.NDArray[np.bool_], names: Sequence[str], *, l2: float = 1.0
) -> EditPredictor:
    """Fit P(y | x) by IRLS with an L2 penalty `l2` on the standardised weights."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != t.shape[0] or x.shape[1] != len(names):
        raise ValueError("features, labels and names do not line up")
    if not 0 < t.sum() < len(t):
        raise ValueError("the edit predictor needs both changed and unchanged units")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    n, d = z.shape
    design = np.column_stack((np.ones(n), z))
    penalty = l2 * np.eye(d + 1)
    penalty[0, 0] = 0.0  # the bias is not shrunk
    beta = np.zeros(d + 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -50.0, 50.0)))
        grad = design.T @ (t - p) - penalty @ beta
        hess = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if float(np.abs(step).max()) < 1e-10:
            break
    return EditPredictor(
        names=tuple(names),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in beta[1:]),
        bias=float(beta[0]),
    )
