"""Emacs with eglot against the real server, headless (`emacs --batch`): open a Python file, run
`caveat.scanDocument` (client-emacs/caveat-eglot.el's `caveat-scan`), read flymake's
diagnostics, request hover and code actions. Skipped only without Emacs outside CI; in CI
(CI=true) a missing Emacs fails: .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "emacs" / "eglot-e2e.el"

# Scanned with the embedded model: spans at three levels (see tests/test_nvim_client.py); the
# default diagnostics.minLevel (information) publishes two.
SOURCE = (Path(__file__).parent / "data" / "stats_sample.py").read_text("utf-8")


def find_emacs() -> str:
    """The emacs binary; skip without one, except in CI where its absence is a failure."""
    found = shutil.which("emacs")
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("emacs is not installed (CI=true): .ci/run installs emacs-nox")
    pytest.skip("emacs is not installed (apt-get install emacs-nox)")


@pytest.fixture(scope="module")
def eglot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run tests/emacs/eglot-e2e.el once; what it recorded."""
    emacs = find_emacs()
    work = tmp_path_factory.mktemp("emacs")
    source = work / "stats.py"
    source.write_text(SOURCE)
    out = work / "result.json"
    env = dict(os.environ)
    env.update(
        HOME=str(work),  # no user configuration; Debian's site-start still finds eglot
        CAVEAT_PYTHON=sys.executable,
        CAVEAT_E2E_ROOT=str(ROOT),
        CAVEAT_E2E_FILE=str(source),
        CAVEAT_E2E_OUT=str(out),
    )
    proc = subprocess.run(
        [emacs, "--batch", "-l", str(SCRIPT)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    detail = f"rc={proc.returncode}\nstderr:\n{proc.stderr[-4000:]}"
    assert out.exists(), f"Emacs wrote no result\n{detail}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, f"{result['error']}\n{detail}"
    assert proc.returncode == 0 and result.get("ok"), detail
    return result


def test_scan_shows_flymake_diagnostics(eglot: dict[str, Any]) -> None:
    """caveat.scanDocument through eglot: flymake lists the published spans on real text."""
    assert eglot["major_mode"] == "python-mode"
    assert eglot["flymake"] is True
    diagnostics = eglot["diagnostics"]
    assert diagnostics, eglot
    # The server counts every span; the hint below the default minLevel is not published.
    assert 0 < len(diagnostics) <= eglot["scan_spans"]
    lines = SOURCE.splitlines()
    for diag in diagnostics:
        assert diag["text"].strip() and diag["text"] in SOURCE, diag
        assert diag["type"] in ("eglot-warning", "eglot-note"), diag
        assert diag["message"].startswith("caveat"), diag
    assert any(d["text"] in lines[8] for d in diagnostics), diagnostics  # `low = min(values)`


def test_hover_and_code_actions_on_a_flagged_span(eglot: dict[str, Any]) -> None:
    """Hover explains the first flagged span; code actions offer its alternatives."""
    first = eglot["diagnostics"][0]
    hover = eglot["hover"]
    assert hover and "caveat" in hover and first["text"] in hover, hover
    assert re.search(r"(<0\.1|\d+(\.\d)?)%", hover), hover
    assert eglot["hover_unflagged"] is None
    titles = eglot["actions"]
    assert titles, "no code action for the flagged span"
    action = re.compile(r"Replace with '.*' \(caveat, (<0\.1|\d+(\.\d)?)%\)", re.S)
    for title in titles:
        assert action.fullmatch(title), title
