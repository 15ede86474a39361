"""Align token byte ranges to the syntax units around them.

The document is parsed with the completion already inserted. Each token (trimmed of surrounding
whitespace) is attributed to the smallest node captured by the language's span query that
encloses it; tokens outside any captured unit, or whose unit spans several lines, fall back to
their line. Tree-sitter keeps parsing through ERROR nodes, so half-typed code still yields
identifiers, literals and calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tree_sitter as ts

from caveat.grammars.registry import Grammar, get_grammar

# When one node is captured under several names, the more specific kind wins: `x` in `f(x)` is
# an identifier before it is an argument.
_PRIORITY = {
    # A docstring is a string literal too; as prose it is a comment first.
    "comment": -1,
    "identifier": 0,
    "literal": 0,
    "operator": 0,
    "call": 1,
    "argument": 2,
    "condition": 2,
    "statement": 3,
}
_WHITESPACE = b" \t\r\n\f\v"


@dataclass(frozen=True)
class Unit:
    """A syntax unit as a UTF-8 byte range of the document, with its span kind."""

    start: int
    end: int
    kind: str


def syntax_units(data: bytes, grammar: Grammar) -> tuple[ts.Tree, dict[tuple[int, int], str]]:
    """Parse `data` and map each captured node's byte range to its (most specific) kind."""
    tree = ts.Parser(grammar.language).parse(data)
    units: dict[tuple[int, int], str] = {}
    for kind, nodes in ts.QueryCursor(grammar.query).captures(tree.root_node).items():
        for node in nodes:
            key = (node.start_byte, node.end_byte)
            old = units.get(key)
            if old is None or _PRIORITY.get(kind, 9) < _PRIORITY.get(old, 9):
                units[key] = kind
    return tree, units


def trim(data: bytes, start: int, end: int) -> tuple[int, int]:
    """The byte range without leading and trailing whitespace (empty if all whitespace)."""
    while start < end and data[start] in _WHITESPACE:
        start += 1
    while end > start and data[end - 1] in _WHITESPACE:
        end -= 1
    return start, end


def line_unit(data: bytes, start: int, end: int) -> Unit:
    """The line(s) holding bytes [start, end), without indentation or trailing blanks."""
    lo = data.rfind(b"\n", 0, start) + 1
    hi = data.find(b"\n", max(end, start + 1) - 1)
    hi = len(data) if hi < 0 else hi
    lo, hi = trim(data, lo, hi)
    return Unit(min(lo, start), max(hi, end), "line")


def align_tokens(
    data: bytes, language: str | None, ranges: Sequence[tuple[int, int]]
) -> list[Unit | None]:
    """The syntax unit of each token byte range of `data` (None for whitespace-only tokens).

    Unknown languages (no grammar) get line units.
    """
    grammar = get_grammar(language)
    tree, units = syntax_units(data, grammar) if grammar is not None else (None, {})
    out: list[Unit | None] = []
    for start, end in ranges:
        a, b = trim(data, start, end)
        if a >= b:
            out.append(None)
            continue
        unit = _enclosing(tree, units, a, b) if tree is not None else None
        if unit is None or b"\n" in data[unit.start : unit.end]:
            # A multi-line comment or docstring still reads as prose line by line.
            prose = unit is not None and unit.kind == "comment"
            unit = line_unit(data, a, b)
            if prose:
                unit = Unit(unit.start, unit.end, "comment")
        out.append(unit)
    return out


def _enclosing(tree: ts.Tree, units: dict[tuple[int, int], str], a: int, b: int) -> Unit | None:
    """Smallest captured unit containing bytes [a, b), walking up from the smallest node."""
    node: ts.Node | None = tree.root_node.descendant_for_byte_range(a, b)
    while node is not None:
        s, e = node.start_byte, node.end_byte
        if s <= a and e >= b:
            kind = units.get((s, e))
            if kind is not None:
                return Unit(s, e, kind)
        node = node.parent
    return None
