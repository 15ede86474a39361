"""The latency benchmark's pure parts: typing sessions, percentile/CDF math, the table.

No timing assertions: the benchmark measures, these tests only check the harness is right.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys

import numpy as np
import pytest

from caveat.bench import latency
from caveat.bench.latency_report import (
    cdf,
    markdown_table,
    percentile,
    ratio,
    summary,
    typed_ahead_hits,
)
from caveat.bench.typing_session import Event, Session, Timed, generate, lsp_position

SOURCE = '''import os


def list_files(root):
    """Every file under root."""
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            out.append(os.path.join(dirpath, name))
    return sorted(out)


class Counter:
    def __init__(self):
        self.count = 0

    def bump(self, by=1):
        self.count += by
        return self.count
'''


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_session_types_the_missing_text_back(seed: int) -> None:
    session = generate(SOURCE, events=400, seed=seed, start_fraction=0.3)
    # With enough events the whole missing stretch is typed back: the file is whole again.
    assert session.texts()[-1] == SOURCE
    assert session.initial != SOURCE
    assert all(e.delay_ms > 0 for e in session.events)


def test_session_has_typos_jumps_and_auto_indent() -> None:
    session = generate(SOURCE, events=1000, seed=3, start_fraction=0.0, typo_rate=0.3, jump_rate=1)
    kinds = {e.kind for e in session.events}
    assert kinds == {"type", "delete", "jump"}
    # A delete removes the wrong key typed just before it, at the same place.
    for prev, event in zip(session.events, session.events[1:], strict=False):
        if event.kind == "delete":
            assert prev.kind == "type" and len(prev.inserted) == 1
            assert event.offset == prev.offset and event.removed == 1
    # Jumps change no text; newlines arrive with their indentation.
    assert all(not e.inserted and not e.removed for e in session.events if e.kind == "jump")
    assert "\n        " in {e.inserted for e in session.events}
    assert session.texts()[-1] == SOURCE


def test_session_is_deterministic_and_bounded() -> None:
    a = generate(SOURCE, events=25, seed=5)
    assert a == generate(SOURCE, events=25, seed=5)
    assert a != generate(SOURCE, events=25, seed=6)
    assert len(a.events) == 25
    # The cursor after each event sits inside the text of that moment.
    for event, text in zip(a.events, a.texts(), strict=True):
        assert 0 <= event.cursor <= len(text)


def test_lsp_position_counts_utf16_columns() -> None:
    text = "a = 1\nb = '😀x'\n"
    assert lsp_position(text, 0) == {"line": 0, "character": 0}
    assert lsp_position(text, 6) == {"line": 1, "character": 0}
    # The emoji is one Python char but two UTF-16 code units.
    assert lsp_position(text, text.index("x")) == {"line": 1, "character": 7}


@pytest.mark.parametrize("q", [0, 10, 25, 50, 90, 95, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = [12.0, 3.5, 7.25, 100.0, 41.0, 8.0, 8.0, 19.5]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_and_summary_edges() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([4.0], 95) == 4.0
    s = summary([1.0, 2.0, 3.0, 4.0])
    assert s == {"n": 4, "p50": 2.5, "p95": pytest.approx(3.85), "mean": 2.5}
    assert math.isnan(summary([])["p50"])
    assert ratio(1.0, 4.0) == 0.25
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(math.nan, 2.0))


def test_cdf_is_sorted_and_ends_at_one() -> None:
    xs, ys = cdf([30.0, 10.0, 20.0, 20.0])
    assert xs == [10.0, 20.0, 20.0, 30.0]
    assert ys == [0.25, 0.5, 0.75, 1.0]
    assert statistics.median(xs) == 20.0


def test_markdown_table_layout() -> None:
    table = markdown_table(("engine", "n", "p50 ms"), [("caveat", 3, 12.345), ("x", 1, math.nan)])
    assert table.splitlines() == [
        "| engine | n | p50 ms |",
        "|---|---|---|",
        "| caveat | 3 | 12 |",
        "| x | 1 | - |",
    ]
    assert markdown_table(("r",), [(0.123456,)]).splitlines()[-1] == "| 0.123 |"


def test_typed_ahead_hits_count_keys_the_ghost_text_predicted() -> None:
    events = (
        Event("type", 100, 0, 0, "r", 1),
        Event("type", 100, 1, 0, "e", 2),  # shown after "r": "eturn" -> hit
        Event("type", 100, 2, 0, "x", 3),  # shown after "re": "turn" -> miss
        Event("jump", 100, 0, 0, "", 0),
        Event("type", 100, 0, 0, "#", 1),  # after a jump to the start: shown "#" -> hit
    )
    session = Session("", events)
    results = [{"text": "eturn"}, {"text": "turn"}, {"text": ""}, {"text": "#!"}, {"text": ""}]
    timed = [Timed(e.kind, 1.0, 2.0, r) for e, r in zip(events, results, strict=True)]
    assert typed_ahead_hits(session, timed) == (2, 3)


def latency_args(argv: list[str]) -> argparse.Namespace:
    """Parse `bench latency` arguments as the CLI does."""
    parser = argparse.ArgumentParser()
    latency.register(parser.add_subparsers())
    return parser.parse_args(["latency", *argv])


def test_plot_without_matplotlib_fails_before_any_phase(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError

    def phase(*args: object, **kwargs: object) -> None:
        raise AssertionError("a phase started although the plot could not be written")

    monkeypatch.setattr(latency, "caveat_phase", phase)
    assert latency.run(latency_args(["--plot", "out.png"])) == 2
    assert "pip install matplotlib" in capsys.readouterr().err
