"""Sorted byte table of a vocabulary: which tokens start with given bytes, in O(log V).

Built once per tokenizer object and cached (a 262,144-entry vocabulary sorts in well under a
second). Equivalent to a byte trie for the only two queries healing makes: all tokens whose bytes
start with a given string, and each token's first byte.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

# Index of the pseudo-byte "end of text" in next-byte distributions: tokens with no bytes
# (EOS, turn markers, other control tokens) end the text rather than continue it.
END = 256


class ByteTable:
    """Vocabulary token ids sorted by their bytes, plus each token's first byte."""

    def __init__(self, token_bytes: Sequence[bytes]) -> None:
        order = sorted(range(len(token_bytes)), key=lambda t: token_bytes[t])
        self._keys: list[bytes] = [token_bytes[t] for t in order]
        self._ids: IntArray = np.asarray(order, dtype=np.int64)
        first = np.full(len(token_bytes), END, dtype=np.int64)
        for t, b in enumerate(token_bytes):
            if b:
                first[t] = b[0]
        self.first_byte: IntArray = first
        self.empty_ids: IntArray = np.flatnonzero(first == END).astype(np.int64)
        self.nonempty_ids: IntArray = np.flatnonzero(first != END).astype(np.int64)

    def with_prefix(self, prefix: bytes) -> IntArray:
        """Ids of the non-empty tokens whose bytes start with `prefix` (sorted by bytes)."""
        if not prefix:
            # Empty keys sort first; skip them.
            return self._ids[bisect.bisect_right(self._keys, b"") :]
        lo = bisect.bisect_left(self._keys, prefix)
        # Every key starting with `prefix` sorts before prefix + 0xff...: bound by the next
        # string that does not start with it (increment the last non-0xff byte).
        hi_key = _prefix_upper_bound(prefix)
        hi = len(self._keys) if hi_key is None else bisect.bisect_left(self._keys, hi_key)
        return self._ids[lo:hi]


def _prefix_upper_bound(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with `prefix` (None: no bound)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


_CACHE: weakref.WeakKeyDictionary[object, ByteTable] = weakref.WeakKeyDictionary()
_CACHE_BY_ID: dict[int, tuple[object, ByteTable]] = {}


def table_for(tok: object, token_bytes: Sequence[bytes]) -> ByteTable:
    """The cached ByteTable of tokenizer `tok` (built on first use)."""
    try:
        hit = _CACHE.get(tok)
    except TypeError:  # not weak-referenceable: cache by identity, keeping it alive
        entry = _CACHE_BY_ID.get(id(tok))
        if entry is not None and entry[0] is tok:
            return entry[1]
        table = ByteTable(token_bytes)
        _CACHE_BY_ID[id(tok)] = (tok, table)
        return table
    if hit is None:
        hit = ByteTable(token_bytes)
        _CACHE[tok] = hit
    return hit
