"""Repository context: chunks of other files laid out before the file's own prefix.

Pure text work, no model and no files: cut documents into chunks, pick the ones that share names
with the file being completed, drop those the cursor's own text already holds, fit them into a
token budget, and write them as prompt text (commented file headers for prefix models; the
repository format `<|file_sep|>` is laid out in `caveat.engine.prompt` from token ids).

The context always comes first and in a stable order (by source, then path and line), so that
a keystroke changes only the end of the prompt and the KV cache keeps the context.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

ChunkSource = Literal["edit", "view", "open", "import"]

#: Order of the sources in the prompt: the nearest to the file's own text comes last.
_SOURCE_RANK: dict[str, int] = {"edit": 0, "view": 1, "open": 2, "import": 3}
#: Line comment of each languageId (block comments where a language has no line comment).
_COMMENTS: dict[str, tuple[str, str]] = {
    "python": ("# ", ""),
    "ruby": ("# ", ""),
    "shellscript": ("# ", ""),
    "yaml": ("# ", ""),
    "toml": ("# ", ""),
    "r": ("# ", ""),
    "perl": ("# ", ""),
    "lua": ("-- ", ""),
    "sql": ("-- ", ""),
    "haskell": ("-- ", ""),
    "html": ("<!-- ", " -->"),
    "xml": ("<!-- ", " -->"),
    "markdown": ("<!-- ", " -->"),
    "css": ("/* ", " */"),
    "ocaml": ("(* ", " *)"),
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Words most files share, whatever they are about (Python's keywords and a few C-like ones).
_COMMON = frozenset(keyword.kwlist) | {
    "self",
    "cls",
    "print",
    "len",
    "str",
    "int",
    "return",
    "const",
    "let",
    "var",
    "function",
    "void",
    "char",
    "struct",
    "public",
    "private",
    "static",
    "this",
    "new",
    "null",
    "true",
    "false",
    "func",
    "package",
    "fn",
    "mut",
    "use",
    "impl",
}
#: Lines shorter than this (`)`, `else:`, `}`) say nothing about whether text is duplicated.
_MIN_DEDUP_LINE = 8


@dataclass(frozen=True)
class ContextChunk:
    """Lines `start_line`..`end_line` (1-based, inclusive) of another file, and their text."""

    path: str
    start_line: int
    end_line: int
    text: str
    source: ChunkSource = "open"
    # Tokens the chunk takes in the prompt, header included (0 until `select_chunks` counts).
    tokens: int = 0

    def to_json(self) -> dict[str, object]:
        """The chunk as `caveat complete --json` reports it."""
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "tokens": self.tokens,
            "source": self.source,
        }


@dataclass(frozen=True)
class RepoContext:
    """The chunks chosen for one request and the path of the file being completed."""

    path: str
    chunks: tuple[ContextChunk, ...] = ()


def words(text: str) -> set[str]:
    """The identifiers in `text` that can tell files apart (no keywords, none under 3 chars)."""
    return {w for w in _WORD.findall(text) if len(w) >= 3 and w not in _COMMON}


def comment(language: str | None) -> tuple[str, str]:
    """How a one-line comment opens and closes in `language` (C-like `// ` by default)."""
    return _COMMENTS.get((language or "").lower(), ("// ", ""))


def header(path: str, language: str | None) -> str:
    """The commented file header a chunk (or the file itself) starts with."""
    opening, closing = comment(language)
    return f"{opening}{path}{closing}\n"


def chunk_text(chunk: ContextChunk, language: str | None) -> str:
    """One chunk as prefix-model prompt text: its header, its lines, a blank line."""
    body = chunk.text if chunk.text.endswith("\n") else chunk.text + "\n"
    return header(chunk.path, language) + body + "\n"


def context_text(ctx: RepoContext, language: str | None) -> str:
    """All chunks, then the header of the file being completed (its prefix follows).

    Consecutive chunks of one file share its header.
    """
    parts: list[str] = []
    for i, chunk in enumerate(ctx.chunks):
        text = chunk_text(chunk, language)
        if i and ctx.chunks[i - 1].path == chunk.path:
            text = text[len(header(chunk.path, language)) :]
        parts.append(text)
    return "".join(parts) + header(ctx.path, language)


def document_chunks(
    path: str,
    text: str,
    wanted: set[str],
    *,
    lines: int = 24,
    keep: int = 2,
    source: ChunkSource = "open",
) -> list[ContextChunk]:
    """The `keep` chunks of `lines` lines of a document that share the most names with `wanted`.

    Chunks sharing no name are not returned. Best first; ties go to the earlier chunk.
    """
    all_lines = text.splitlines(keepends=True)
    scored: list[tuple[int, int, ContextChunk]] = []
    for start in range(0, len(all_lines), lines):
        part = "".join(all_lines[start : start + lines])
        shared = len(words(part) & wanted)
        if shared and part.strip():
            end = min(start + lines, len(all_lines))
            scored.append((-shared, start, ContextChunk(path, start + 1, end, part, source)))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [chunk for _, _, chunk in scored[:keep]]


def edited_lines(old: str, new: str) -> list[tuple[int, int]]:
    """1-based inclusive line ranges of `new` that differ from `old` (inserted or replaced)."""
    a, b = old.splitlines(), new.splitlines()
    ranges = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert") and j2 > j1:
            ranges.append((j1 + 1, j2))
    return ranges


def edit_chunk(
    path: str,
    text: str,
    first: int,
    last: int,
    *,
    around: int = 6,
    source: ChunkSource = "edit",
) -> ContextChunk:
    """Lines `first`..`last` (1-based) of a document with `around` lines either side."""
    all_lines = text.splitlines(keepends=True)
    start = max(1, first - around)
    end = min(len(all_lines), last + around)
    return ContextChunk(path, start, end, "".join(all_lines[start - 1 : end]), source)


def _meaningful(text: str) -> list[str]:
    """The stripped lines of `text` long enough to identify a copy."""
    return [s for s in (ln.strip() for ln in text.splitlines()) if len(s) >= _MIN_DEDUP_LINE]


def duplicated(chunk_lines: Sequence[str], seen: set[str], share: float = 0.5) -> bool:
    """Whether at least `share` of a chunk's meaningful lines are already in `seen`."""
    if not chunk_lines:
        return True
    return sum(line in seen for line in chunk_lines) >= share * len(chunk_lines)


def select_chunks(
    candidates: Iterable[ContextChunk],
    *,
    cursor_text: str,
    budget: int,
    count: Callable[[str], int],
    language: str | None = None,
) -> tuple[ContextChunk, ...]:
    """Choose chunks by priority (the order given) within `budget` tokens, in a stable order.

    A chunk is dropped when half its meaningful lines are already in `cursor_text` (the text
    the prompt holds around the cursor: a model copies what it sees twice) or in a chunk taken
    before it, or when it overlaps a taken chunk of the same file. A chunk too long for what is
    left is cut to its first lines that fit. `count` gives the tokens of a text. The result is
    ordered by source (edits, open documents, imports: the nearest to the file last), path and
    line, so the same chunks always make the same prompt text.
    """
    seen = set(_meaningful(cursor_text))
    taken: list[ContextChunk] = []
    left = budget
    for chunk in candidates:
        if left <= 0:
            break
        lines = _meaningful(chunk.text)
        if duplicated(lines, seen) or any(_overlaps(chunk, t) for t in taken):
            continue
        fitted = _fit(chunk, left, count, language)
        if fitted is None:
            continue
        taken.append(fitted)
        seen.update(_meaningful(fitted.text))
        left -= fitted.tokens
    taken.sort(key=lambda c: (_SOURCE_RANK[c.source], c.path, c.start_line))
    return tuple(taken)


def _overlaps(a: ContextChunk, b: ContextChunk) -> bool:
    return a.path == b.path and a.start_line <= b.end_line and b.start_line <= a.end_line


def _fit(
    chunk: ContextChunk, left: int, count: Callable[[str], int], language: str | None
) -> ContextChunk | None:
    """The chunk with its token count, cut to its first lines that fit `left`; None if none."""
    tokens = count(chunk_text(chunk, language))
    if tokens <= left:
        return replace(chunk, tokens=tokens)
    lines = chunk.text.splitlines(keepends=True)
    # Tokens grow about linearly with lines: guess, then shrink until it fits.
    n = max(0, min(len(lines) - 1, len(lines) * left // max(tokens, 1)))
    while n >= 3:
        cut = replace(chunk, end_line=chunk.start_line + n - 1, text="".join(lines[:n]))
        tokens = count(chunk_text(cut, language))
        if tokens <= left:
            return replace(cut, tokens=tokens)
        n -= max(1, n // 8)
    return None
