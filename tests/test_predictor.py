"""The edit predictor: deterministic fitting, level cuts, storage, and use on completions."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from caveat.annotate.regions import scored_units
from caveat.cli import main
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest
from caveat.scoring.calibration import (
    edit_cuts,
    load_thresholds,
    save_thresholds,
    thresholds_from_json,
)
from caveat.scoring.features import NAMES
from caveat.scoring.predictor import fit_predictor
from caveat.scoring.types import Thresholds


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.5, size=400)) > 0.3
    return x, y


def test_fitting_is_deterministic_and_learns_the_direction() -> None:
    x, y = _data(0)
    a = fit_predictor(x, y, ("a", "b", "c"))
    b = fit_predictor(x, y, ("a", "b", "c"))
    assert a == b
    assert a.weights[0] > 0 > a.weights[1]  # the signal's signs
    assert abs(a.weights[2]) < 0.3 * a.weights[0]  # noise gets little weight
    p = a.probabilities(x)
    assert p[y].mean() > p[~y].mean() + 0.3
    assert a.probability(x[0]) == pytest.approx(p[0])


def test_fitting_refuses_one_class_or_misaligned_data() -> None:
    x, y = _data(1)
    with pytest.raises(ValueError):
        fit_predictor(x, np.zeros(400, dtype=bool), ("a", "b", "c"))
    with pytest.raises(ValueError):
        fit_predictor(x, y, ("a", "b"))


def test_edit_cuts_reach_the_level_precisions() -> None:
    p = np.linspace(0, 1, 200)
    y = p > np.random.default_rng(2).uniform(size=200)  # P(y) = p: a calibrated score
    hint, information, warning = edit_cuts(p, y)
    assert 0 < hint <= information <= warning
    for cut, target in ((hint, 0.6), (information, 0.7), (warning, 0.8)):
        if cut <= 1:
            assert y[p >= cut].mean() >= target
    never = edit_cuts(p, np.zeros(200, dtype=bool) | (p > 2))
    assert never == (1.01, 1.01, 1.01)


def test_thresholds_with_a_predictor_survive_a_round_trip(tmp_path: Path) -> None:
    x, y = _data(3)
    fitted = fit_predictor(x, y, ("a", "b", "c"))
    th = dataclasses.replace(
        Thresholds(),
        edit_names=fitted.names,
        edit_mean=fitted.mean,
        edit_scale=fitted.scale,
        edit_weights=fitted.weights,
        edit_bias=fitted.bias,
        edit_cuts=(0.5, 0.6, 0.7),
    )
    path = tmp_path / "th.json"
    save_thresholds(th, path)
    again = thresholds_from_json(path.read_text())
    assert again == th and again.predictor == fitted
    assert again.edit_level(0.65) == "information" and again.edit_level(0.1) is None


PROMPT = "def area(width, height):\n    return "


def test_a_completion_is_graded_by_the_shipped_predictor(engine: Engine) -> None:
    th = load_thresholds(engine.info.sha256)
    assert th.predictor is not None and th.edit_names == NAMES
    c = engine.complete(CompletionRequest(prefix=PROMPT, max_tokens=16))
    text = PROMPT + c.text
    units, chosen = scored_units(
        text, len(PROMPT), c.records, "python", th, len(c.text), generated=True
    )
    assert units and all(u.edit is not None and 0 < u.edit < 1 for u in units)
    assert all(u.basis == "edit" and u.level == th.edit_level(u.edit or 0) for u in units)
    assert {(u.start, u.end) for u in chosen} <= {(u.start, u.end) for u in units}


def test_complete_json_lists_every_unit_of_the_completion(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "area.py"
    path.write_text(PROMPT + "\n", encoding="utf-8")
    args = ["complete", f"{path}:2:12", "--json", "--max-tokens", "16", "--stop", "\\n"]
    assert main([*args, "--threads", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    text = out["text"]
    assert "\n" not in text  # --stop "\n" ends the completion at its line's end
    assert out["spans"], "every scored unit is listed"
    th = load_thresholds(engine.info.sha256)
    underlined = [s for s in out["spans"] if s["level"] is not None]
    for s in out["spans"]:
        assert 0 <= s["start"] < s["end"] <= len(text)
        assert text[s["start"] : s["end"]] == s["text"]
        assert isinstance(s["doubt"], float) and s["kind"]
    assert sum(s["end"] - s["start"] for s in underlined) <= th.edit_budget_chars(len(text))
    for a, b in itertools.pairwise(underlined):
        assert a["end"] <= b["start"]  # underlines never overlap


def test_calibrate_fits_a_predictor_deterministically(tmp_path: Path) -> None:
    """`caveat calibrate` on a tiny corpus twice: the same thresholds, predictor included."""
    runs = []
    for name in ("a.json", "b.json"):
        out = tmp_path / name
        args = ["calibrate", "--problems", "2", "--stdlib", "1", "--edit-lines", "3"]
        assert main([*args, "--output", str(out), "--threads", "2", "--json"]) == 0
        runs.append(thresholds_from_json(out.read_text()))
    assert runs[0] == runs[1]
    assert runs[0].predictor is not None and runs[0].edit_names == NAMES
