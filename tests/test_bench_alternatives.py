"""`caveat bench alternatives`: its case definition (pure) and one short real run."""

from __future__ import annotations

import json

import pytest

from caveat.bench.alternatives import hits, reference_unit
from caveat.cli import main


@pytest.mark.parametrize(
    ("generated", "reference", "unit", "expected"),
    [
        # the line agrees around the unit: the reference's text in its place
        ("    return total / n", "    return total / count", "n", "count"),
        ("if x >= 0:", "if x == 0:", ">=", "=="),
        # a unit at the start of the code stands for the reference's code from there
        ("for i in range(n):", "result = []", "for i in range(n):", "result = []"),
        # the line differs right next to the unit: no single text to compare with
        ("if a < b + c:", "while a <= d:", "b", None),
    ],
)
def test_reference_unit(generated: str, reference: str, unit: str, expected: str | None) -> None:
    start = generated.rindex(unit)
    assert reference_unit(generated, reference, start, start + len(unit)) == expected


def test_hits_compare_as_code() -> None:
    assert hits([" foo( 'a' )", "bar"], 'foo("a")') == {1: True, 3: True}
    assert hits(["bar", "baz", "foo"], "foo") == {1: False, 3: True}
    assert hits([], "foo") == {1: False, 3: False}


def test_a_short_run_reports_every_list(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "alternatives", "--limit", "2", "--lines", "2", "--first", "0"]
    assert main([*args, "--threads", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["first_problem"] == 0 and out["problems"] == 2
    assert set(out["hit_rate"]) == {"caveat", "caveat_by_rerank_score", "topk_swap", "topk_prefix"}
    assert len(out["examples"]) == out["cases"]
    for case in out["examples"]:
        assert case["reference"].strip() and case["offered"] is not None
        # caveat's list and its rerank-ordered copy hold the same entries
        assert case["hits"]["caveat"]["3"] or not case["hits"]["caveat"]["1"]
