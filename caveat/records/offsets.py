"""UTF-8 byte offsets to Python str offsets: tokens and tree-sitter count bytes, caveat chars."""

from __future__ import annotations

import numpy as np


class OffsetMap:
    """Converts UTF-8 byte offsets of a document to Python str (code point) offsets."""

    def __init__(self, data: bytes) -> None:
        """Index the code point starts of `data`."""
        arr = np.frombuffer(data, dtype=np.uint8)
        is_start = (arr & 0xC0) != 0x80
        # chars_before[b] = number of code points that start before byte b.
        self._before = np.concatenate(([0], np.cumsum(is_start, dtype=np.int64)))
        self._is_start = np.concatenate((is_start, [True]))

    def char(self, byte: int, *, round_up: bool = False) -> int:
        """Code point offset of `byte`; a byte inside a character rounds down (or up)."""
        if self._is_start[byte]:
            return int(self._before[byte])
        # Inside a character: it is the last one started before `byte`.
        return int(self._before[byte]) - (0 if round_up else 1)
