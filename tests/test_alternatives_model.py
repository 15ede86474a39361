"""Every alternative offered for real code, by the real model, leaves the code valid.

Fixture files in Python, JavaScript, Rust and Go are scanned and every uncertain span's
alternatives computed as the editor's hover computes them; each one is applied and the result
re-parsed with the grammar packages directly (not through caveat's own validity check).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_go
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_rust

from caveat.annotate.alternatives import MAX_CHOICES, with_choices
from caveat.annotate.regions import SCAN_ID, annotate
from caveat.engine.engine import Engine
from caveat.scoring.calibration import load_thresholds

FIXTURES = Path(__file__).parent / "data" / "alternatives"
LANGUAGES: dict[str, tuple[str, Callable[[], object]]] = {
    "sales.py": ("python", tree_sitter_python.language),
    "sales.js": ("javascript", tree_sitter_javascript.language),
    "sales.rs": ("rust", tree_sitter_rust.language),
    "sales.go": ("go", tree_sitter_go.language),
}


def _problems(code: str, language: Callable[[], object]) -> tuple[int, int]:
    """(ERROR + MISSING nodes, comment nodes) of a parse."""
    tree = ts.Parser(ts.Language(language())).parse(code.encode())
    errors = comments = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        errors += node.is_error or node.is_missing
        comments += "comment" in node.type
        stack.extend(node.children)
    return errors, comments


def _glued(text: str, start: int, end: int, new: str) -> bool:
    def word(ch: str) -> bool:
        return ch.isalnum() or ch == "_"

    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return (word(before) and word(new[0])) or (word(after) and word(new[-1]))


@pytest.fixture(scope="module")
def offered(engine: Engine) -> dict[str, list[tuple[int, int, str, str]]]:
    """Per fixture: (start, end, span text, replacement) for every offered alternative."""
    thresholds = load_thresholds(engine.info.sha256)
    out: dict[str, list[tuple[int, int, str, str]]] = {}
    for name, (language, _) in LANGUAGES.items():
        text = (FIXTURES / name).read_text("utf-8")
        region = annotate(
            SCAN_ID, text, 0, engine.scan(text), language, thresholds, len(text), generated=False
        )
        region = with_choices(engine, text, region, language)
        rows = out.setdefault(name, [])
        for span in region.spans:
            assert span.choices is not None
            assert len(span.choices) <= MAX_CHOICES
            shown = [c.probability for c in span.choices]
            assert shown == sorted(shown, reverse=True), span.id
            rows += [(c.start, c.end, span.chosen, c.text) for c in span.choices]
    return out


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_offered_alternative_keeps_the_parse_clean(
    offered: dict[str, list[tuple[int, int, str, str]]], name: str
) -> None:
    text = (FIXTURES / name).read_text("utf-8")
    _, language = LANGUAGES[name]
    base = _problems(text, language)
    for start, end, chosen, new in offered[name]:
        doc = text[:start] + new + text[end:]
        errors, comments = _problems(doc, language)
        assert errors <= base[0], f"{chosen!r} -> {new!r} adds a parse error"
        assert comments <= base[1], f"{chosen!r} -> {new!r} adds a comment"
        assert not _glued(text, start, end, new), f"{chosen!r} -> {new!r} glues words"
        assert new.strip() and new.strip() != text[start:end].strip()


def test_the_fixtures_get_alternatives_at_all(
    offered: dict[str, list[tuple[int, int, str, str]]],
) -> None:
    """The check above is not vacuous: the model does offer alternatives on these files."""
    assert sum(len(rows) for rows in offered.values()) >= 8
    assert sum(1 for rows in offered.values() if rows) >= 3
