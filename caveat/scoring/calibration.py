"""Threshold learning per model (AdaDec-style) and where the thresholds are stored.

"Towards Better Code Generation: Adaptive Decoding with Uncertainty Guidance" (AdaDec):
teacher-force reference code, record the entropy H of each step and whether the reference
token was the model's top-1, fit a class-balanced logistic regression sigma(b0 + b1 * H), pick
the cut p* maximising balanced accuracy on a held-out split, and set H* = (logit(p*) - b0) / b1.

Span levels are calibrated against false alarms instead: the reference code is correct, so the
scores caveat gives its syntax units show how often a level would fire on code nobody needs to
change. The cut-offs are the scores below which 10% (hint), 5% (information) and 2% (warning)
of reference units fall, which keeps highlights sparse by construction. Completion tokens (the
model's own top-1 picks) get cut-offs the same way, from the top-1 log-probabilities of the
steps where the model's pick was right.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import platformdirs

from caveat.scoring.features import NAMES, UnitExample
from caveat.scoring.predictor import fit_predictor
from caveat.scoring.types import FAR_GRID, LEVEL_RATES, Thresholds

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

#: Shipped thresholds for the embedded default model (computed by `caveat calibrate`).
DEFAULT_FILE = "gemma3-270m-q4-k-m.json"


def fit_logistic(
    x: Array, y: npt.NDArray[np.bool_], *, balanced: bool = True, l2: float = 1e-6
) -> tuple[float, float]:
    """(b0, b1) of P(y=1 | x) = sigma(b0 + b1 x) by Newton's method (IRLS).

    With `balanced`, each class carries half the total weight, so a rare class is not ignored.
    A tiny ridge term keeps separable data finite.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    pos = float(t.sum())
    if balanced and 0 < pos < n:
        w = np.where(t > 0, n / (2.0 * pos), n / (2.0 * (n - pos)))
    else:
        w = np.ones(n)
    design = np.column_stack((np.ones(n), x))
    beta = np.zeros(2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        grad = design.T @ (w * (t - p)) - l2 * beta
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if float(np.abs(step).max()) < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def balanced_accuracy(pred: npt.NDArray[np.bool_], y: npt.NDArray[np.bool_]) -> float:
    """Mean of the true-positive and true-negative rates."""
    pos, neg = y, ~y
    tpr = float((pred & pos).sum()) / max(1, int(pos.sum()))
    tnr = float((~pred & neg).sum()) / max(1, int(neg.sum()))
    return (tpr + tnr) / 2.0


def best_cut(p: Array, y: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(p*, balanced accuracy): predict y=1 where p >= p*, p* chosen among the observed p."""
    best = (0.5, -1.0)
    for cut in np.unique(p):
        acc = balanced_accuracy(p >= cut, y)
        if acc > best[1]:
            best = (float(cut), acc)
    return best


def logit(p: float) -> float:
    """log(p / (1 - p)), clipped away from 0 and 1."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def cut_on_feature(b0: float, b1: float, p: float) -> float:
    """The feature value where sigma(b0 + b1 x) = p."""
    return (logit(p) - b0) / b1


def calibrate(
    entropy: Array,
    top1_logprob: Array,
    correct: npt.NDArray[np.bool_],
    unit_scores: Array,
    *,
    seed: int = 0,
    holdout: float = 0.3,
) -> Thresholds:
    """Thresholds from teacher-forced reference code.

    Per step: entropy, top-1 log-probability, whether the top-1 was the reference token; per
    syntax unit of that code: caveat's span score.
    """
    n = entropy.shape[0]
    if n < 20 or correct.all() or not correct.any() or unit_scores.shape[0] < 20:
        raise ValueError("calibration needs at least 20 steps with both outcomes, and 20 units")
    order = np.random.default_rng(seed).permutation(n)
    cut = int(n * (1 - holdout))
    train, test = order[:cut], order[cut:]

    b0, b1 = fit_logistic(entropy[train], correct[train])
    p_held = 1.0 / (1.0 + np.exp(-(b0 + b1 * entropy[test])))
    p_star, acc = best_cut(p_held, correct[test])
    h_star = cut_on_feature(b0, b1, p_star)

    # Level cut-offs are the quantiles at the level rates (non-increasing by construction).
    # A completion is the model's own top-1: flag it as often as correct picks look this unsure.
    right = top1_logprob[correct]
    units, picks = _quantiles(unit_scores), _quantiles(right)
    hint, info, warn = (units[FAR_GRID.index(rate)] for rate in LEVEL_RATES)
    p_hint, p_info, p_warn = (picks[FAR_GRID.index(rate)] for rate in LEVEL_RATES)
    return Thresholds(
        entropy=h_star,
        hint=hint,
        information=info,
        warning=warn,
        pick_hint=p_hint,
        pick_information=p_info,
        pick_warning=p_warn,
        unit_quantiles=units,
        pick_quantiles=picks,
        source="calibrated",
        beta0=b0,
        beta1=b1,
        p_star=p_star,
        balanced_accuracy=acc,
        samples=n,
    )


def _quantiles(scores: Array) -> tuple[float, ...]:
    """Scores at the FAR_GRID rates (non-increasing, <= 0): the map behind `Thresholds.doubt`."""
    qs = np.minimum(0.0, np.quantile(scores, FAR_GRID))
    return tuple(float(q) for q in np.minimum.accumulate(qs))


def cache_path(model_sha256: str) -> Path:
    """Where calibrated thresholds for a model live in the user cache."""
    return Path(platformdirs.user_cache_dir("caveat")) / "thresholds" / f"{model_sha256}.json"


def save_thresholds(th: Thresholds, path: Path) -> None:
    """Write thresholds as JSON (creating parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(th), indent=2) + "\n", encoding="utf-8")


def thresholds_from_json(text: str) -> Thresholds:
    """Parse stored thresholds, ignoring unknown keys."""
    raw = json.loads(text)
    known = {k: v for k, v in raw.items() if k in Thresholds.__dataclass_fields__}
    for key in ("unit_quantiles", "pick_quantiles", "edit_mean", "edit_scale", "edit_weights"):
        if key in known:
            known[key] = tuple(float(x) for x in known[key])
    if "edit_names" in known:
        known["edit_names"] = tuple(str(x) for x in known["edit_names"])
    if "edit_cuts" in known:
        a, b, c = (float(x) for x in known["edit_cuts"])
        known["edit_cuts"] = (a, b, c)
    return Thresholds(**known)


def shipped_default() -> Thresholds:
    """The thresholds shipped for the embedded model, or the builtin ones if missing."""
    res = resources.files("caveat.scoring").joinpath("data").joinpath(DEFAULT_FILE)
    try:
        return thresholds_from_json(res.read_text("utf-8"))
    except (FileNotFoundError, ValueError) as exc:
        log.warning("shipped thresholds unreadable (%s); using builtin ones", exc)
        return Thresholds()


def load_thresholds(model_sha256: str | None) -> Thresholds:
    """Calibrated thresholds for a model: user cache first, then the shipped default."""
    if model_sha256:
        path = cache_path(model_sha256)
        if path.is_file():
            try:
                return thresholds_from_json(path.read_text("utf-8"))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("ignoring unreadable thresholds %s: %s", path, exc)
    default = shipped_default()
    if model_sha256 and default.model_sha256 not in (None, model_sha256):
        # Another model: the embedded model's numbers are a rough start, say so in `source`.
        return replace(default, source="default (uncalibrated for this model)")
    return default


#: Unit-level precision the three levels stand for (hint, information, warning).
EDIT_PRECISIONS = (0.6, 0.7, 0.8)


def edit_cuts(p: Array, y: npt.NDArray[np.bool_]) -> tuple[float, float, float]:
    """Edit-probability cuts at which the units above reach each of EDIT_PRECISIONS.

    For each target, the lowest cut whose units at or above it are at least that precise (and
    hold at least ten units); a target never reached gets a cut above 1 (that level unused).
    """
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order].astype(np.float64)
    precision = np.cumsum(ys) / np.arange(1, len(ys) + 1)
    cuts = []
    for target in EDIT_PRECISIONS:
        ok = [i for i in range(9, len(ps)) if precision[i] >= target]
        cuts.append(float(ps[max(ok)]) if ok else 1.01)
    hint, information, warning = np.maximum.accumulate(cuts)
    return float(hint), float(information), float(warning)


def fit_edit_predictor(th: Thresholds, examples: Sequence[UnitExample]) -> Thresholds:
    """The thresholds with an edit predictor fitted on `examples` (calibration-half units)."""
    if not examples:
        raise ValueError("no completed reference lines to learn from")
    x = np.stack([e.features for e in examples])
    y = np.array([e.differs for e in examples], dtype=bool)
    predictor = fit_predictor(x, y, NAMES)
    cuts = edit_cuts(predictor.probabilities(x), y)
    return replace(
        th,
        edit_names=predictor.names,
        edit_mean=predictor.mean,
        edit_scale=predictor.scale,
        edit_weights=predictor.weights,
        edit_bias=predictor.bias,
        edit_cuts=cuts,
    )
