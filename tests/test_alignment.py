"""Token byte ranges → syntax units, per language, including broken and multi-byte code."""

from __future__ import annotations

import math

import pytest

from caveat.grammars.align import align_tokens
from caveat.grammars.registry import get_grammar, language_for_path, supported_languages
from caveat.records.offsets import OffsetMap
from caveat.records.types import Alternative, TokenRecord
from caveat.scoring.spans import agreeing_logprob, find_spans, score_units
from caveat.scoring.types import Thresholds


def _ranges(src: bytes, pieces: list[str]) -> list[tuple[int, int]]:
    """Byte ranges of `pieces`, found left to right in `src` (as a tokenizer would cut it)."""
    out, pos = [], 0
    for piece in pieces:
        raw = piece.encode()
        at = src.index(raw, pos)
        out.append((at, at + len(raw)))
        pos = at + len(raw)
    return out


# (language, source, tokens, expected (kind, unit text) per token; None = whitespace token)
CASES = [
    (
        "python",
        "def f(a):\n    return foo(a, 'x') + b\n",
        [" foo", "(", " '", "x", " +", " b", "\n"],
        [
            ("identifier", "foo"),
            ("call", "foo(a, 'x')"),
            ("literal", "'x'"),
            ("literal", "'x'"),
            ("operator", "+"),
            ("identifier", "b"),
            None,
        ],
    ),
    (
        "python",
        "if count > limit and not done:\n    pass\n",
        ["if", " >", " and", " not", " done", "pass"],
        [
            ("line", "if count > limit and not done:"),
            ("operator", ">"),
            ("operator", "and"),
            ("operator", "not"),
            ("identifier", "done"),
            ("statement", "pass"),
        ],
    ),
    (
        "python",
        "x = self.items.append(1)\n",
        [".append", "1"],
        [("identifier", "self.items.append"), ("literal", "1")],
    ),
    (
        "javascript",
        "function f(a) { return foo(a, 'x') && b; }",
        [" foo", "'x'", " &&", " b"],
        [("identifier", "foo"), ("literal", "'x'"), ("operator", "&&"), ("identifier", "b")],
    ),
    (
        "typescript",
        "let y: number = a.b + 1;",
        [" number", "a", ".b", " 1"],
        [("identifier", "number"), ("identifier", "a"), ("identifier", "a.b"), ("literal", "1")],
    ),
    (
        "typescriptreact",
        "const A = () => <div id={n + 1}>hi</div>;",
        [" A", "n", " +"],
        [("identifier", "A"), ("identifier", "n"), ("operator", "+")],
    ),
    (
        "rust",
        'fn f(a: i32) -> i32 { if a > 1 { return foo(a, "x"); } a }',
        [" i32", " >", " foo", '"x"'],
        [("identifier", "i32"), ("operator", ">"), ("identifier", "foo"), ("literal", '"x"')],
    ),
    (
        "go",
        "package m\nfunc f(a int) int { y := a.b + 1; return y }",
        [" int", " a", ".b", " 1", " return"],
        [
            ("identifier", "int"),
            ("identifier", "a"),
            ("identifier", "a.b"),
            ("literal", "1"),
            ("statement", "return y"),
        ],
    ),
    (
        "java",
        'class A { int f(int a) { return foo(a, "x") - 2; } }',
        [" return", " foo", " -", " 2"],
        [
            ("statement", 'return foo(a, "x") - 2;'),
            ("identifier", "foo"),
            ("operator", "-"),
            ("literal", "2"),
        ],
    ),
    (
        "c",
        "int f(int a) { return a->len * 2; }",
        [" a", "->len", " *"],
        [("identifier", "a"), ("identifier", "a->len"), ("operator", "*")],
    ),
    (
        "cpp",
        "int f() { std::cout << 42; }",
        [" std", "::cout", " <<", " 42"],
        [("identifier", "std"), ("identifier", "std::cout"), ("operator", "<<"), ("literal", "42")],
    ),
    (  # incomplete code: the parse has ERROR nodes, names and literals are still found
        "python",
        "def f(a:\n    return foo(a, 'unterminated",
        [" foo", "a", "'unterminated"],
        [("identifier", "foo"), ("identifier", "a"), ("line", "return foo(a, 'unterminated")],
    ),
    (
        "javascript",
        "if (x > ",
        ["x", " >"],
        [("identifier", "x"), ("line", "if (x >")],  # a dangling operator has no expression
    ),
    (  # unknown language: line units
        "cobol",
        "MOVE A TO B.\n  ADD 1 TO C.\n",
        [" A", " ADD", "\n"],
        [("line", "MOVE A TO B."), ("line", "ADD 1 TO C."), None],
    ),
    (  # multi-byte characters before and inside the tokens
        "python",
        "naïve = «x» if café else '日本'\n",
        ["naïve", " café", " '日", "本'"],
        [
            ("identifier", "naïve"),
            ("identifier", "café"),
            ("literal", "'日本'"),
            ("literal", "'日本'"),
        ],
    ),
]


@pytest.mark.parametrize(("language", "source", "tokens", "expected"), CASES)
def test_alignment_table(
    language: str, source: str, tokens: list[str], expected: list[tuple[str, str] | None]
) -> None:
    data = source.encode()
    units = align_tokens(data, language, _ranges(data, tokens))
    got = [None if u is None else (u.kind, data[u.start : u.end].decode()) for u in units]
    assert got == expected


def test_every_language_has_a_compiling_query() -> None:
    for lang in supported_languages():
        grammar = get_grammar(lang)
        assert grammar is not None
        assert grammar.query.pattern_count > 5


def test_language_lookup() -> None:
    assert get_grammar("Python") is get_grammar("python")
    assert get_grammar("plaintext") is None
    assert language_for_path("src/app.tsx") == "typescriptreact"
    assert language_for_path("x.hpp") == "cpp"
    assert language_for_path("README") is None


def test_offset_map_counts_code_points() -> None:
    text = "aé日😀b"
    data = text.encode()
    om = OffsetMap(data)
    for i in range(len(text) + 1):
        assert om.char(len(text[:i].encode())) == i
    # a byte inside 日 (bytes 3..5) rounds down, or up for span ends
    assert om.char(4) == 2
    assert om.char(4, round_up=True) == 3


def _rec(data: bytes, start: int, end: int, logprob: float, top=()) -> TokenRecord:  # type: ignore[no-untyped-def]
    return TokenRecord(7, data[start:end], start, logprob, 1.0, 0.0, tuple(top))


def test_find_spans_levels_merges_and_positions() -> None:
    text = "é = compute(vaule, 'k')\n"
    data = text.encode()
    r = _ranges(data, ["é", " =", " compute", "(", "va", "ule", ",", " 'k'", ")"])
    lps = [-0.1, -0.05, -0.2, -0.01, -6.0, -0.5, -0.02, -2.5, -0.01]
    recs = [_rec(data, s, e, lp) for (s, e), lp in zip(r, lps, strict=True)]
    th = Thresholds(hint=-1.0, information=-2.0, warning=-4.0)
    spans = find_spans(text, "python", recs, 0, th)
    assert [(text[s.start : s.end], s.kind, s.level) for s in spans] == [
        ("vaule", "identifier", "warning"),
        ("'k'", "literal", "information"),
    ]
    assert spans[0].token_indices == (4, 5)
    assert spans[0].worst_token == 4
    assert spans[0].score == pytest.approx(-6.0)
    # all units are scored, most with no level
    assert len(score_units(text, "python", recs, 0, th)) > len(spans)


def test_spans_relative_to_insertion_point() -> None:
    prefix = "x = 1\n"
    completion = "y = zz\n"
    text = prefix + completion
    start = len(prefix.encode())
    cdata = completion.encode()
    recs = [_rec(cdata, 0, 1, -0.1), _rec(cdata, 1, 3, -0.1), _rec(cdata, 3, 6, -5.0)]
    spans = find_spans(text, "python", recs, start, Thresholds())
    assert [(text[s.start : s.end], s.level) for s in spans] == [("zz", "warning")]


def test_punctuation_weighs_less_than_names() -> None:
    text = "f(a)\n"
    data = text.encode()
    r = _ranges(data, ["f", "(", "a", ")"])
    recs = [
        _rec(data, *r[0], -0.1),
        _rec(data, *r[1], -5.0),
        _rec(data, *r[2], -0.1),
        _rec(data, *r[3], -0.1),
    ]
    th = Thresholds(hint=-1.2, information=-2.3, warning=-3.5)
    spans = find_spans(text, "python", recs, 0, th)
    assert [(s.kind, s.level) for s in spans] == [("call", "hint")]  # 0.27 * -5.0 = -1.35


def test_equivalent_alternatives_count_as_agreement() -> None:
    quote = TokenRecord(
        1, b" '", 0, -1.2, 1.0, 0.0, (Alternative(2, b' "', -0.4), Alternative(1, b" '", -1.2))
    )
    assert agreeing_logprob(quote) == pytest.approx(math.log(math.exp(-0.4) + math.exp(-1.2)))
    comma = TokenRecord(1, b",", 0, -1.0, 1.0, 0.0, (Alternative(3, b"", -0.5),))
    assert agreeing_logprob(comma, "\n)") > agreeing_logprob(comma, " b)")
    name = TokenRecord(1, b" foo", 0, -2.0, 1.0, 0.0, (Alternative(4, b" bar", -0.2),))
    assert agreeing_logprob(name) == pytest.approx(-2.0)


def test_model_picks_are_levelled_by_their_own_cut_offs() -> None:
    """A completion token (the model's own top-1) is judged by the pick cut-offs."""
    from caveat.scoring.spans import pick_level

    th = Thresholds(
        pick_hint=math.log(0.5),
        pick_information=math.log(0.3),
        pick_warning=math.log(0.15),
        hint=-9.0,
        information=-9.5,
        warning=-10,
    )

    def pick(p: float) -> TokenRecord:
        lp = math.log(p)
        return TokenRecord(5, b" x", 0, lp, 1.0, 0.1, (Alternative(5, b" x", lp),))

    assert pick_level(pick(0.6), th) is None
    assert pick_level(pick(0.4), th) == "hint"
    assert pick_level(pick(0.2), th) == "information"
    assert pick_level(pick(0.1), th) == "warning"
    forced = TokenRecord(5, b" x", 0, math.log(0.1), 1.6, 0.1, (Alternative(6, b" y", -0.5),))
    assert pick_level(forced, th) is None  # teacher-forced text: the span score decides
    # An equivalent alternative (other quote style) is agreement, not doubt.
    quote = TokenRecord(
        7,
        b"'",
        0,
        math.log(0.25),
        1.0,
        0.1,
        (Alternative(7, b"'", math.log(0.25)), Alternative(8, b'"', math.log(0.7))),
    )
    assert pick_level(quote, th) is None
    text = "y = x\n"
    spans = find_spans(text, "python", [pick(0.1)], 3, th, generated=True)
    assert [(text[s.start : s.end], s.level) for s in spans] == [("x", "warning")]
    # The same top-1 token in scanned text is not a choice the model made: no pick level.
    assert find_spans(text, "python", [pick(0.1)], 3, th) == []


def test_doubt_is_the_calibrated_false_alarm_rate() -> None:
    """doubt = -log10 of the share of correct code scoring at least this low, on each scale."""
    from caveat.scoring.types import FAR_GRID

    units = tuple(-1.0 - i for i in range(len(FAR_GRID)))  # -1 at 50%, -2 at 20%, -3 at 10%, ...
    picks = tuple(-0.1 * (i + 1) for i in range(len(FAR_GRID)))
    th = Thresholds(unit_quantiles=units, pick_quantiles=picks)
    assert th.doubt(0.0) == 0.0
    assert th.doubt(-1.0) == pytest.approx(-math.log10(0.5))
    assert th.doubt(-3.0) == pytest.approx(1.0)
    assert th.doubt(-2.5) == pytest.approx((-math.log10(0.2) + 1.0) / 2)
    # Rarer than the last calibrated point: still increasing, so the worst spans rank apart.
    assert th.doubt(-20.0) > th.doubt(-12.0) > th.doubt(-9.0) == pytest.approx(3.0)
    # A generated token's pick log-probability counts on its own scale; the larger doubt wins.
    assert th.doubt(-1.0, pick=-0.3) == pytest.approx(1.0)
    assert th.doubt(-3.0, pick=-0.05) == pytest.approx(1.0)
    # Without quantiles (builtin thresholds) the three level cut-offs give the scale.
    plain = Thresholds(hint=-1.0, information=-2.0, warning=-4.0)
    assert plain.doubt(-1.0) == pytest.approx(1.0)
    assert plain.doubt(-4.0) == pytest.approx(-math.log10(0.02))
