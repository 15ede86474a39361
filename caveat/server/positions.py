"""Offsets inside caveat, LSP positions at the edge: the only place that converts between them.

Character offsets (Python str indices) are caveat's currency; LSP positions count columns in
the negotiated encoding (UTF-16 unless the client chose otherwise). Line splitting and column
units follow pygls' TextDocument and PositionCodec, so both sides agree on every document.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

#: LSP's line breaks: only these three. (`str.splitlines` also breaks at U+2028, U+0085, \x0b,
#: \x0c and more, which would put every position after them on the wrong line.)
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """`text` cut into lines by LSP's rules, each keeping its line break (like splitlines(True))."""
    lines: list[str] = []
    start = 0
    for m in LINE_BREAK.finditer(text):
        lines.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


class PositionMap:
    """Converts offsets of one text to and from client positions (lines computed once)."""

    def __init__(self, text: str, codec: PositionCodec) -> None:
        """Index the line starts of `text`; columns are counted with `codec`."""
        self.text = text
        self.codec = codec
        self.lines: Sequence[str] = tuple(split_lines(text))
        starts = [0]
        for line in self.lines:
            starts.append(starts[-1] + len(line))
        self.starts = starts

    @classmethod
    def of(cls, doc: TextDocument) -> PositionMap:
        """The map of a pygls document's current text with its codec."""
        return cls(doc.source, doc.position_codec)

    def position(self, offset: int) -> types.Position:
        """The client position of a character offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        if line >= len(self.lines):
            if not self.lines or self.lines[-1].endswith(("\n", "\r")):
                # Past the last line break: a position on the empty last line.
                return types.Position(line=len(self.lines), character=0)
            line = len(self.lines) - 1
        column = self.lines[line][: offset - self.starts[line]]
        return types.Position(line=line, character=self.codec.client_num_units(column))

    def range(self, start: int, end: int) -> types.Range:
        """The client range of the characters [start, end)."""
        return types.Range(start=self.position(start), end=self.position(end))

    def offset(self, position: types.Position) -> int:
        """The character offset of a client position (columns past the line end clamp to it)."""
        if position.line >= len(self.lines):
            return len(self.text)
        line = self.lines[position.line]
        content = line.rstrip("\r\n")
        if position.character >= self.codec.client_num_units(content):
            return self.starts[position.line] + len(content)
        # The codec clamps by mutating its argument: hand it a copy.
        copy = types.Position(line=position.line, character=position.character)
        server = self.codec.position_from_client_units(self.lines, copy)
        return self.starts[position.line] + server.character


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """`text` with lone surrogates (legal in JSON, not in UTF-8) replaced by U+FFFD.

    One character for one, so offsets and UTF-16 columns are unchanged; without this the
    model's UTF-8 encoding of a document holding one fails the request.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units (LSP's default column unit)."""
    return len(text.encode("utf-16-le")) // 2
