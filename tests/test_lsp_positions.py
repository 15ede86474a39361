"""Offsets to LSP positions and back, in each position encoding, around emoji and CJK."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.workspace import PositionCodec

from caveat.records.offsets import OffsetMap
from caveat.server.positions import PositionMap, utf16_len

TEXT = 'a = "😀世"\r\nb = 1\n\nend'
# code points on line 0: a=0, quote=4, 😀=5, 世=6, quote=7; 😀 is 2 UTF-16 units, 4 bytes


@pytest.mark.parametrize(
    ("encoding", "offset", "expected"),
    [
        (types.PositionEncodingKind.Utf16, 5, (0, 5)),  # before 😀
        (types.PositionEncodingKind.Utf16, 6, (0, 7)),  # after 😀: two units
        (types.PositionEncodingKind.Utf16, 7, (0, 8)),  # after 世: one unit
        (types.PositionEncodingKind.Utf8, 6, (0, 9)),  # after 😀: four bytes
        (types.PositionEncodingKind.Utf8, 7, (0, 12)),  # after 世: three bytes
        (types.PositionEncodingKind.Utf32, 7, (0, 7)),
        (types.PositionEncodingKind.Utf16, 10, (1, 0)),  # after \r\n
        (types.PositionEncodingKind.Utf16, 16, (2, 0)),  # the empty line
        (types.PositionEncodingKind.Utf16, 20, (3, 3)),  # end of text
    ],
)
def test_offsets_round_trip(encoding: str, offset: int, expected: tuple[int, int]) -> None:
    """Each encoding counts columns its own way; converting back gives the same offset."""
    positions = PositionMap(TEXT, PositionCodec(encoding))
    pos = positions.position(offset)
    assert (pos.line, pos.character) == expected
    assert positions.offset(pos) == offset


def test_out_of_range_positions_clamp() -> None:
    """Columns past a line's end stop at its end; lines past the end go to the text's end."""
    positions = PositionMap(TEXT, PositionCodec())
    assert positions.offset(types.Position(line=0, character=99)) == 8
    assert positions.offset(types.Position(line=3, character=99)) == len(TEXT)
    assert positions.offset(types.Position(line=40, character=0)) == len(TEXT)
    assert positions.position(999) == types.Position(line=3, character=3)


def test_trailing_newline_has_an_empty_last_line() -> None:
    """The position after a final newline is (lines, 0) and maps back to the end."""
    positions = PositionMap("x\n", PositionCodec())
    assert positions.position(2) == types.Position(line=1, character=0)
    assert positions.offset(types.Position(line=1, character=0)) == 2


def test_bytes_to_chars_widen_split_characters() -> None:
    """A byte offset inside a multi-byte character belongs to that character."""
    offsets = OffsetMap("a😀b".encode())
    assert [offsets.char(b) for b in range(7)] == [0, 1, 1, 1, 1, 2, 3]
    assert offsets.char(3, round_up=True) == 2  # ends inside 😀: the whole emoji is covered
    assert offsets.char(5, round_up=True) == 2
    assert offsets.char(6, round_up=True) == 3
    assert utf16_len("a😀世") == 4
