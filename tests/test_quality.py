"""One strictness bar: ruff (lint + format) and mypy --strict on the caveat package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", name]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "caveat", "tests"],
        ["ruff", "format", "--check", "caveat", "tests"],
        ["mypy", "--strict", "caveat"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tool_is_clean(command: list[str]) -> None:
    proc = subprocess.run(
        [*_tool(command[0]), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
