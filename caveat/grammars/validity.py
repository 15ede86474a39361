"""Does a replacement leave the code valid? Lexical edges plus a tree-sitter parse.

An alternative caveat offers for a span must never break the code around it: no new ERROR or
MISSING node in the parse, no new comment (code turned into a comment), no word glued to its
neighbour, and no bracket or quote left open that the original closed. Without a grammar for
the language only the lexical checks apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from caveat.grammars.registry import get_grammar

_BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"))
_QUOTES = "'\"`"


@dataclass(frozen=True)
class ParseProblems:
    """What a parse found that a valid replacement must not add."""

    errors: int
    comments: int


def parse_problems(data: bytes, language: str | None) -> ParseProblems | None:
    """ERROR plus MISSING nodes, and comment nodes, in the parse of `data`; None without grammar."""
    grammar = get_grammar(language)
    if grammar is None:
        return None
    tree = ts.Parser(grammar.language).parse(data)
    errors = comments = 0
    cursor = tree.walk()
    # Pre-order walk over every node (comments can sit anywhere, not only under errors).
    while True:
        node = cursor.node
        if node is not None:
            if node.is_error or node.is_missing:
                errors += 1
            if "comment" in node.type:
                comments += 1
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return ParseProblems(errors, comments)


def bracket_depth(text: str) -> int:
    """Net count of brackets opened in `text` (quotes not tracked: spans are short)."""
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _shape(text: str) -> tuple[int, ...]:
    """Net depth per bracket type and the parity of each quote character (unescaped)."""
    depths = [text.count(o) - text.count(c) for o, c in _BRACKETS]
    parities = []
    for q in _QUOTES:
        count, escaped = 0, False
        for ch in text:
            if ch == q and not escaped:
                count += 1
            escaped = ch == "\\" and not escaped
        parities.append(count % 2)
    return (*depths, *parities)


def lexically_clean(text: str, start: int, end: int, new: str) -> bool:
    """Whether `new` in place of text[start:end] keeps word edges and bracket/quote balance."""
    if not new.strip():
        return False
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if before and _is_word(before) and _is_word(new[0]):
        return False  # `rows` + `open(...)` style: glued to the word before
    if after and _is_word(after) and _is_word(new[-1]):
        return False
    return _shape(new) == _shape(text[start:end])


def keeps_code_valid(
    text: str,
    start: int,
    end: int,
    new: str,
    language: str | None,
    before: ParseProblems | None = None,
) -> bool:
    """Whether replacing text[start:end] with `new` adds no lexical or parse problem.

    `before` is `parse_problems` of `text` (pass it when checking several replacements of one
    document, to parse it once).
    """
    if not lexically_clean(text, start, end, new):
        return False
    if before is None:
        before = parse_problems(text.encode("utf-8"), language)
    if before is None:
        return True
    after = parse_problems((text[:start] + new + text[end:]).encode("utf-8"), language)
    assert after is not None  # same grammar as `before`
    return after.errors <= before.errors and after.comments <= before.comments
