"""The one alternatives pipeline, without the model: validity rules and list building.

Rollouts are built by hand here (the model's own are tested in test_alternatives_model.py), so
each rule is shown failing on the case it exists for.
"""

from __future__ import annotations

import pytest

from caveat.annotate.alternatives import choices_from_rollouts, normalize_code
from caveat.annotate.provenance import TrackedSpan
from caveat.engine.rollout import Rollout
from caveat.grammars.validity import keeps_code_valid, lexically_clean, parse_problems

PY = "total = sum(valuez)\nprint(total)\n"


def _span(text: str, unit: str, token_from: int = 0) -> TrackedSpan:
    """A tracked span over the first `unit` of `text`, its least sure token from `token_from`."""
    start = text.index(unit)
    return TrackedSpan(
        id="s1",
        completion_id="c1",
        start=start,
        end=start + len(unit),
        level="warning",
        kind="identifier",
        score=-4.0,
        doubt=1.8,
        basis="unit",
        chosen=unit,
        token=unit[token_from:],
        token_probability=0.1,
        token_start=start + token_from,
        token_end=start + len(unit),
    )


def _rollout(text: str, logprob: float = -1.0, *, ended: bool = True) -> Rollout:
    return Rollout((1,), (logprob, -0.5), (), text.encode(), ended)


@pytest.mark.parametrize(
    ("text", "unit", "new", "language", "ok"),
    [
        # the examples: each broke the code and must be refused
        ('with open(p, newline="") as f:\n    pass\n', "with", "rows", "python", False),
        ('x = "amont"\n', '"amont"', '"sales', "python", False),
        ("totals = {}\nprint(totals)\n", "totals", "# TODO", "python", False),
        ("let n = rows.len();\n", "len", "enumerate().enumerate(", "rust", False),
        # glued to the neighbouring word (the edges allow no identifier on identifier)
        ("x = a.b\n", "b", "c", "python", True),
        ("xy = 1\n", "y", "z", "python", False),
        # fine replacements
        ('x = "amont"\n', '"amont"', '"amount"', "python", True),
        ("totals = {}\nprint(totals)\n", "totals", "sums", "python", True),
        ("const a = f(b);\n", "f(b)", "g(b, c)", "javascript", True),
        ("let n = rows.len();\n", "len", "count", "rust", True),
        ("func f() int { return a }\n", "a", "b + 1", "go", True),
        # a new parse error / MISSING node
        ("const a = f(b);\n", "f(b)", "f(b c)", "javascript", False),
        ("func f() int { return a }\n", "a", "b +", "go", False),
        # no grammar: only the lexical rules
        ("foo(bar)\n", "bar", "baz)", None, False),
        ("foo(bar)\n", "bar", "baz", None, True),
    ],
)
def test_keeps_code_valid(text: str, unit: str, new: str, language: str | None, ok: bool) -> None:
    start = text.index(unit)
    assert keeps_code_valid(text, start, start + len(unit), new, language) is ok


def test_existing_errors_do_not_count_against_a_replacement() -> None:
    text = "def f(:\n    return valuez\n"  # already broken above the span
    start = text.index("valuez")
    before = parse_problems(text.encode(), "python")
    assert before is not None and before.errors > 0
    assert keeps_code_valid(text, start, start + 6, "values", "python", before)


def test_lexical_rules() -> None:
    assert not lexically_clean("a(b)", 2, 3, "  ")  # blank
    assert not lexically_clean("a(b)", 2, 3, "c[")  # bracket left open
    assert lexically_clean("a('b')", 2, 5, '"c"')  # quote style may change
    assert not lexically_clean("a('b')", 2, 5, "'c")  # quote left open


def test_choices_keep_the_head_and_drop_what_cannot_replace_the_span() -> None:
    span = _span(PY, "valuez", token_from=3)  # least sure token `uez` of `valuez`
    rollouts = [
        _rollout("ues", -1.2),  # -> values
        _rollout("ues)\nprint", -0.3),  # runs into the next line: no one-line fix
        _rollout("uez", -0.4),  # the span itself
        _rollout("id \n", -2.0),  # trailing blanks go -> valid
        _rollout("ue_list", -0.9, ended=False),  # did not close its unit
        _rollout("ues[", -0.2),  # leaves a bracket open
    ]
    choices = choices_from_rollouts(PY, span, rollouts, "python")
    assert [c.text for c in choices] == ["values", "valid"]
    assert all((c.start, c.end) == (span.start, span.end) for c in choices)


def test_equivalent_choices_merge_and_rank_by_probability() -> None:
    text = "x = f('a')\n"
    span = _span(text, "f('a')", token_from=0)
    rollouts = [
        _rollout("g(a)", -1.5),
        _rollout("h('a')", -1.0),
        _rollout('h("a")', -1.2),  # same code as h('a'): probabilities add
        _rollout("k(a)", -0.9),
    ]
    choices = choices_from_rollouts(text, span, rollouts, "python")
    assert [normalize_code(c.text) for c in choices] == ['h("a")', "k(a)", "g(a)"]
    probabilities = [c.probability for c in choices]
    assert probabilities == sorted(probabilities, reverse=True)
    assert probabilities[0] == pytest.approx(0.3679 + 0.3012, abs=1e-3)


def test_blanks_of_a_token_before_the_span_stay_outside_the_replacement() -> None:
    text = "print(x)\nreturn dict(totals)\n"
    start = text.index("dict")
    span = TrackedSpan(
        id="s",
        completion_id="c",
        start=start,
        end=start + 4,
        level="hint",
        kind="identifier",
        score=-7.0,
        doubt=1.1,
        basis="unit",
        chosen="dict",
        token=" dict",
        token_probability=0.001,
        token_start=start - 1,
        token_end=start + 4,
    )
    for tail in (" sorted", "sorted"):
        [choice] = choices_from_rollouts(text, span, [_rollout(tail, -0.2)], "python")
        assert (choice.start, choice.end, choice.text) == (start, start + 4, "sorted")
