"""`caveat scan` against the real embedded model: planted oddities are flagged, clean code
stays mostly unhighlighted, and the JSON gives char offsets and LSP ranges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caveat.annotate.provenance import Region
from caveat.cli import main
from caveat.commands.scan import scan_region, spans_json
from caveat.engine.engine import Engine
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.types import level_rank

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


@pytest.fixture(scope="module")
def planted(engine: Engine) -> Region:
    """The planted file, scanned once for the tests that read it."""
    return scan_region(engine, PLANTED, "python", load_thresholds(engine.info.sha256))


@pytest.fixture(scope="module")
def clean(engine: Engine) -> Region:
    """The clean file, scanned once."""
    return scan_region(engine, CLEAN, "python", load_thresholds(engine.info.sha256))


def test_planted_identifier_is_flagged(planted: Region, clean: Region) -> None:
    spans = planted.spans
    at = PLANTED.index("giraffe_umbrella")
    hits = [s for s in spans if s.start <= at < s.end]
    assert hits, "the planted identifier got no span"
    assert level_rank(hits[0].level) >= level_rank("information")
    assert hits[0].end - hits[0].start <= len("os.path.join(dirpath, giraffe_umbrella)")
    # the same place in the clean file is not flagged at all
    clean_at = CLEAN.index("name))")
    assert not [s for s in clean.spans if s.start <= clean_at < s.end]


def test_clean_code_is_sparsely_highlighted(clean: Region) -> None:
    spans = clean.spans
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
    region = scan_region(engine, PLANTED, "python", th, (14, 18))
    assert region.tokens
    lo = sum(len(line) for line in PLANTED.splitlines(True)[:13])
    hi = lo + sum(len(line) for line in PLANTED.splitlines(True)[13:18])
    assert all(lo <= t.start < hi for t in region.tokens)
    for s in region.spans:
        assert lo <= s.start < hi
    assert not [s for s in region.spans if "giraffe" in PLANTED[s.start : s.end]]


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
    start, end = span["range"]["start"], span["range"]["end"]
    assert start["line"] == 1
    assert start["character"] == text.splitlines()[1].index("giraffe") + 1
    assert end["character"] - start["character"] == len("giraffe_umbrella")
    assert text[span["start"] : span["end"]] == span["text"]
    assert span["level"] in ("hint", "information", "warning")
    assert span["score"] <= 0
    assert span["doubt"] >= 1.0  # levelled spans are at most 10% false alarms
    assert span["tokens"] and all("logprob" in t for t in span["tokens"])
    assert "alternatives" in span  # computed (possibly none valid)
    probabilities = [a["probability"] for a in span["alternatives"]]
    assert all(0 < p <= 1 for p in probabilities)
    assert probabilities == sorted(probabilities, reverse=True)


def test_spans_json_round_trip_matches_spans(planted: Region) -> None:
    body = spans_json(PLANTED, planted)
    assert [b["text"] for b in body] == [PLANTED[s.start : s.end] for s in planted.spans]
    assert [PLANTED[b["start"] : b["end"]] for b in body] == [b["text"] for b in body]
    assert all("alternatives" not in b for b in body)  # not computed without --alternatives
    lines = PLANTED.splitlines(True)
    for b, s in zip(body, planted.spans, strict=True):
        line = b["range"]["start"]["line"]
        assert sum(len(x) for x in lines[:line]) + b["range"]["start"]["character"] == s.start


PROSE = '''\
def total(prices):
    """Zebra quantum marmalade of the seventh moon, refracted twice."""
    # Purple elephants tabulate the hexagonal saxophone here.
    return sum(prices)
'''


def test_comments_and_docstrings_are_scored_but_not_flagged(engine: Engine) -> None:
    from caveat.scoring.spans import score_units

    th = load_thresholds(engine.info.sha256)
    records = engine.scan(PROSE)
    units = score_units(PROSE, "python", records, 0, th)
    prose = [u for u in units if u.kind == "comment"]
    assert {PROSE[u.start : u.end].split()[0] for u in prose} >= {'"""Zebra', "#"}
    # The nonsense is surprising (it would be flagged as code) but a scan leaves prose alone.
    assert min(u.score for u in prose) <= th.hint
    assert all(u.level is None for u in prose)
    region = scan_region(engine, PROSE, "python", th)
    assert not [s for s in region.spans if s.kind == "comment"]
