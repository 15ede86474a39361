"""Byte-level text helpers: UTF-8 character boundaries in token byte streams."""

from __future__ import annotations


def utf8_complete_length(data: bytes | bytearray, upto: int | None = None) -> int:
    """Largest n <= upto such that data[:n] ends on a complete UTF-8 character.

    Byte-fallback tokenizers emit a multi-byte character one byte per token, so a token
    boundary is not always a character boundary; streamed chunks must not split one.
    """
    n = len(data) if upto is None else min(upto, len(data))
    # Step back over at most 3 continuation bytes to the lead byte of the last character.
    i = n - 1
    while i >= 0 and n - i <= 4 and (data[i] & 0xC0) == 0x80:
        i -= 1
    if i < 0:
        return 0
    lead = data[i]
    if lead < 0x80:
        need = 1
    elif lead >> 5 == 0b110:
        need = 2
    elif lead >> 4 == 0b1110:
        need = 3
    elif lead >> 3 == 0b11110:
        need = 4
    else:  # a stray continuation run or invalid lead byte: let the decoder replace it
        return n
    return n if n - i >= need else i
