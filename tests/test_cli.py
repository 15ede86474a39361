"""The `caveat` command line as a user runs it: subprocesses, exit codes, output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from caveat.commands.complete import parse_location, split_at
from caveat.engine.engine import Engine


def caveat(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m caveat ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "caveat", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=240,
        check=False,
    )


def test_complete_json_on_the_shipped_example(repo: Path) -> None:
    proc = caveat("complete", "examples/fib.py:5:5", "--json", "--max-tokens", "24", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["text"].strip()
    assert bytes.fromhex("".join(t["bytes"] for t in out["tokens"])).decode() == out["text"]
    for tok in out["tokens"]:
        assert tok["logprob"] <= 0
        assert tok["top"][0]["id"] == tok["id"]
        assert tok["entropy"] >= 0
    assert out["model"]["embedded"] is True
    assert out["model"]["n_vocab"] == 262144


def test_complete_streams_coloured_text(repo: Path) -> None:
    proc = caveat("complete", "examples/fib.py:5:5", "--max-tokens", "16", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "tokens" in proc.stderr and "tok/s" in proc.stderr
    assert proc.stdout.strip()


def test_missing_model_is_one_clear_paragraph(repo: Path, tmp_path: Path) -> None:
    proc = caveat("complete", "examples/fib.py:5:5", "--model", str(tmp_path / "nope.gguf"))
    assert proc.returncode == 2
    assert "No model file" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_truncated_gguf_is_reported(repo: Path, tmp_path: Path, engine: Engine) -> None:
    broken = tmp_path / "truncated.gguf"
    with open(engine.info.path, "rb") as src:
        broken.write_bytes(src.read(2_000_000))
    proc = caveat("complete", "examples/fib.py:5:5", "--model", str(broken), cwd=repo)
    assert proc.returncode == 2
    assert "could not load" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_not_a_gguf_is_reported(repo: Path, tmp_path: Path) -> None:
    junk = tmp_path / "model.gguf"
    junk.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    proc = caveat("complete", "examples/fib.py:5:5", "--model", str(junk), cwd=repo)
    assert proc.returncode == 2
    assert "not a GGUF model file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_location_is_reported(repo: Path) -> None:
    proc = caveat("complete", "examples/fib.py:99:1", cwd=repo)
    assert proc.returncode == 2
    assert "outside the file" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("a.py:3:7", (Path("a.py"), 3, 7)),
        ("a.py:3", (Path("a.py"), 3, None)),
        ("C:/src/a.py:1:1", (Path("C:/src/a.py"), 1, 1)),
    ],
)
def test_parse_location(location: str, expected: tuple[Path, int, int | None]) -> None:
    assert parse_location(location) == expected


@pytest.mark.parametrize(
    ("text", "line", "col", "prefix"),
    [
        ("ab\ncd\n", 2, 2, "ab\nc"),
        ("ab\ncd\n", 2, None, "ab\ncd"),
        ("🙂x\n", 1, 2, "🙂"),
        ("ab\r\ncd", 2, 1, "ab\r\n"),
    ],
)
def test_split_at(text: str, line: int, col: int | None, prefix: str) -> None:
    before, after = split_at(text, line, col)
    assert before == prefix and before + after == text


def test_doctor_reports_the_model() -> None:
    proc = caveat("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"]["n_vocab"] == 262144
    assert len(report["model"]["sha256"]) == 64
