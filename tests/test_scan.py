"""`caveat scan` against the real embedded model: planted oddities are flagged, clean code
stays mostly unhighlighted, and the JSON speaks LSP positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caveat.cli import main
from caveat.commands.scan import line_starts, lsp_position, scan_spans, spans_json
from caveat.engine import Engine
from caveat.engine.types import TokenRecord
from caveat.scoring import load_thresholds
from caveat.scoring.types import Span, level_rank

CLEAN = '''\
import os


def list_python_files(root):
    """Return the paths of all Python files under root, sorted."""
    result = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".py"):
                result.append(os.path.join(dirpath, name))
    return sorted(result)


def average(numbers):
    """Return the arithmetic mean of a non-empty list of numbers."""
    if not numbers:
        raise ValueError("average() of an empty list")
    return sum(numbers) / len(numbers)


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()

    def is_empty(self):
        return len(self.items) == 0
'''

PLANTED = CLEAN.replace(
    "                result.append(os.path.join(dirpath, name))",
    "                result.append(os.path.join(dirpath, giraffe_umbrella))",
)


Scanned = tuple[list[Span], list[TokenRecord]]


@pytest.fixture(scope="module")
def planted(engine: Engine) -> Scanned:
    """The planted file, scanned once for the tests that read it."""
    return scan_spans(engine, PLANTED, "python", load_thresholds(engine.info.sha256))


@pytest.fixture(scope="module")
def clean(engine: Engine) -> Scanned:
    """The clean file, scanned once."""
    return scan_spans(engine, CLEAN, "python", load_thresholds(engine.info.sha256))


def test_planted_identifier_is_flagged(planted: Scanned, clean: Scanned) -> None:
    spans, _ = planted
    at = PLANTED.index("giraffe_umbrella")
    hits = [s for s in spans if s.start <= at < s.end]
    assert hits, "the planted identifier got no span"
    assert level_rank(hits[0].level) >= level_rank("information")
    assert hits[0].end - hits[0].start <= len("os.path.join(dirpath, giraffe_umbrella)")
    # the same place in the clean file is not flagged at all
    clean_at = CLEAN.index("name))")
    assert not [s for s in clean[0] if s.start <= clean_at < s.end]


def test_clean_code_is_sparsely_highlighted(clean: Scanned) -> None:
    spans, _ = clean
    code_chars = sum(1 for ch in CLEAN if not ch.isspace())
    warned = sum(
        1
        for s in spans
        if s.level == "warning"
        for ch in CLEAN[s.start : s.end]
        if not ch.isspace()
    )
    assert warned / code_chars <= 0.15, [CLEAN[s.start : s.end] for s in spans]


def test_range_limits_spans_to_lines(engine: Engine) -> None:
    th = load_thresholds(engine.info.sha256)
    spans, records = scan_spans(engine, PLANTED, "python", th, (14, 18))
    starts = line_starts(PLANTED)
    assert records
    for s in spans:
        assert 13 <= lsp_position(PLANTED, starts, s.start)["line"] <= 17
    assert not [s for s in spans if "giraffe" in PLANTED[s.start : s.end]]


def test_json_output_uses_utf16_positions(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = 'def greet():\n    print("😀 héllo", giraffe_umbrella)\n'
    path = tmp_path / "greet.py"
    path.write_text(text, encoding="utf-8")
    assert main(["scan", str(path), "--json", "--alternatives", "--threads", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    [span] = [s for s in out["spans"] if "giraffe_umbrella" in s["text"]]
    # "    print(" 10 + '"😀 héllo"' = 1 + 2 (surrogate pair) + 7 + 1, then ", " = 23
    assert span["start"]["line"] == 1
    assert span["start"]["character"] == text.splitlines()[1].index("giraffe") + 1
    assert span["end"]["character"] - span["start"]["character"] == len("giraffe_umbrella")
    assert span["level"] in ("hint", "information", "warning")
    assert span["score"] <= 0
    assert span["doubt"] >= 1.0  # levelled spans are at most 10% false alarms
    assert span["tokens"] and all("logprob" in t for t in span["tokens"])
    assert span["alternatives"], "the worst token should have alternatives"
    assert all(0 < a["probability"] <= 1 for a in span["alternatives"])


def test_spans_json_round_trip_matches_spans(planted: Scanned) -> None:
    spans, records = planted
    body = spans_json(PLANTED, spans, records, with_alternatives=False)
    assert [b["text"] for b in body] == [PLANTED[s.start : s.end] for s in spans]
    assert all(b["alternatives"] == [] for b in body)
    starts = line_starts(PLANTED)
    assert [b["start"] for b in body] == [lsp_position(PLANTED, starts, s.start) for s in spans]
