"""Neovim client setup and :checkhealth without a working server: a missing `python`, one
without caveat, invalid options. Real headless Neovim and the shipped plugin; no model loads
except in the passing health check, which runs `caveat doctor` for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_nvim import ROOT, find_nvim

pytestmark = pytest.mark.nvim

PLUGIN = ROOT / "client-nvim"
SCRIPT = Path(__file__).resolve().parent / "nvim" / "setup_errors.lua"


def run_setup(
    work: Path, python: str, options: dict[str, Any] | None = None, *, wait_exit: bool = False
) -> dict[str, Any]:
    """setup() in a headless Neovim with this `python` and options; what it recorded."""
    source = work / "sample.py"
    source.write_text("x = 1\n")
    out = work / "result.json"
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(work / var.lower())
    env.update(
        CAVEAT_PYTHON=python,
        CAVEAT_E2E_OUT=str(out),
        CAVEAT_E2E_OPTS=json.dumps(options or {}),
        CAVEAT_E2E_WAIT_EXIT="1" if wait_exit else "0",
    )
    cmd = [
        find_nvim(),
        "--headless",
        "--clean",
        "-n",
        "-i",
        "NONE",
        "--cmd",
        f"set runtimepath^={PLUGIN}",
        "-c",
        f"luafile {SCRIPT}",
        str(source),
    ]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=200)
    assert out.exists(), f"Neovim wrote no result (rc={proc.returncode})\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, result["error"]
    return result


def health_errors(result: dict[str, Any]) -> list[str]:
    """The ERROR lines of the :checkhealth caveat report."""
    return [line for line in result["health"] if "ERROR" in line]


def bare_python(tmp_path: Path) -> str:
    """A fresh virtual environment without pip or caveat: Python that cannot import caveat."""
    env_dir = tmp_path / "bare-venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120
    )
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = subprocess.run([str(python), "-c", "import caveat"], cwd=tmp_path, capture_output=True)
    assert probe.returncode != 0, "the bare venv imports caveat: the test would prove nothing"
    return str(python)


def test_missing_python_is_an_error_and_fails_the_health_check(tmp_path: Path) -> None:
    """A `python` that does not exist: setup() says so and :checkhealth reports an ERROR."""
    missing = str(tmp_path / "no-such-dir" / "python3")
    result = run_setup(tmp_path, missing)
    errors = [n["msg"] for n in result["notifications"] if n["level"] == 4]
    assert any("is not an executable" in msg and missing in msg for msg in errors), result
    assert any(missing in line and "not an executable" in line for line in health_errors(result))


def test_python_without_caveat_is_explained_and_fails_the_health_check(tmp_path: Path) -> None:
    """An interpreter without caveat: the server's exit is explained; the health check fails."""
    python = bare_python(tmp_path)
    result = run_setup(tmp_path, python, wait_exit=True)
    explained = [
        n["msg"]
        for n in result["notifications"]
        if n["level"] == 4 and "cannot import caveat" in n["msg"]
    ]
    assert explained and python in explained[0], result["notifications"]
    assert "No module named 'caveat'" in explained[0]
    (error,) = [line for line in health_errors(result) if "cannot import caveat" in line]
    assert "No module named 'caveat'" in error
    # The health check stops there: no "OK ... imports caveat" line.
    assert not [line for line in result["health"] if "imports caveat" in line]


def test_health_check_imports_caveat_and_loads_the_model(tmp_path: Path) -> None:
    """With the right interpreter the health check imports caveat and `caveat doctor` loads."""
    result = run_setup(tmp_path, sys.executable, {"settings": {"model": {"threads": 1}}})
    assert not health_errors(result), result["health"]
    report = "\n".join(result["health"])
    assert f"{sys.executable} imports caveat" in report
    assert "caveat doctor loaded the model:" in report


def test_one_invalid_option_keeps_the_others(tmp_path: Path) -> None:
    """inline='virtual_text' falls back alone: python, debounce and keys stay as given."""
    python = str(tmp_path / "no-such-dir" / "python3")
    options = {
        "inline": "virtual_text",
        "debounce_ms": 42,
        "settings": {"completion": {"maxTokens": 8}},
        "keymaps": {"accept": "<C-y>", "accept_wrod": "<C-w>"},
    }
    result = run_setup(tmp_path, python, options)
    opts = result["options"]
    assert opts["inline"] == "auto"
    assert opts["python"] == python
    assert opts["debounce_ms"] == 42
    assert opts["settings"] == {"completion": {"maxTokens": 8}}
    assert opts["keymaps"]["accept"] == "<C-y>"
    assert opts["keymaps"]["accept_word"] == "<M-Right>"  # default kept for keys not given
    assert "accept_wrod" not in opts["keymaps"]
    problems = result["problems"]
    assert len(problems) == 2, problems
    assert problems[0].startswith("inline = 'virtual_text' must be")
    assert "keymaps.accept_wrod" in problems[1]
    (warning,) = [n["msg"] for n in result["notifications"] if n["level"] == 3]
    assert "inline" in warning and "accept_wrod" in warning
    assert "python" not in warning and "debounce" not in warning
    # The health check lists the bad options.
    assert any("inline = 'virtual_text'" in line for line in result["health"])
