"""Protocols, result type and prefix splitting shared by every healing mode.

Healing decides how the bytes typed just before the cursor are turned into prompt tokens. The
engine supplies a `Tokenizer` (vocabulary bytes + canonical encoder) and a `NextTokenLM`
(full-vocabulary log-softmax after a context); healing never touches llama.cpp directly, so the
same code runs against the real model and against the toy model of the brute-force tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from caveat.engine.types import HealingInfo
from caveat.records.types import TokenRecord

# A fragment longer than this is never healed as a whole: covers only reach back one token or
# two in practice, and every extra byte costs a split point (a forward pass) in `byte` mode.
MAX_FRAGMENT_BYTES = 24

# The trailing "word" the user is typing: identifier characters (ASCII or any non-ASCII byte).
_WORD_TAIL = re.compile(rb"[A-Za-z0-9_\x80-\xff]+\Z")


class Tokenizer(Protocol):
    """Vocabulary bytes and the canonical encoder of one model."""

    # Read-only properties, so that a plain `list[bytes]` attribute satisfies the protocol.
    @property
    def n_vocab(self) -> int:
        """Number of token ids."""
        ...

    @property
    def token_bytes(self) -> Sequence[bytes]:
        """Bytes each token contributes when detokenized mid-text (b"" for control tokens)."""
        ...

    def encode(self, data: bytes) -> list[int]:
        """Canonical tokens of `data` (no BOS, no special tokens)."""
        ...


class NextTokenLM(Protocol):
    """Next-token log-probabilities over the full vocabulary."""

    def logprobs(self, context: Sequence[int]) -> npt.NDArray[np.floating]:
        """Log-softmax of the next token after `context` (which includes BOS/template tokens)."""
        ...


@dataclass(frozen=True)
class HealResult:
    """What to append after the prompt context, and the completion bytes it already implies."""

    tokens: tuple[int, ...]
    emitted: bytes
    records: tuple[TokenRecord, ...]
    info: HealingInfo


def split_prefix(prefix: bytes, tok: Tokenizer) -> tuple[bytes, bytes]:
    """Split `prefix` into (D, q): q is the trailing fragment, encoded independently of D.

    q starts at a token boundary of encode(prefix), covers at least the last token and the
    trailing identifier characters, and is chosen so that encode(D) + encode(q) == encode(prefix).
    """
    if not prefix:
        return b"", b""
    ids = tok.encode(prefix)
    if not ids:
        return prefix, b""
    # Token start offsets, from the vocabulary bytes (decode is concatenation).
    starts: list[int] = []
    pos = 0
    for t in ids:
        starts.append(pos)
        pos += len(tok.token_bytes[t])
    if pos != len(prefix):
        # The tokenizer did not round-trip (should not happen); heal nothing rather than guess.
        return prefix, b""
    word = _WORD_TAIL.search(prefix)
    want = len(prefix) - (len(word.group(0)) if word else 0)
    want = min(want, starts[-1])
    want = max(want, len(prefix) - MAX_FRAGMENT_BYTES, 0)
    # Walk back over token boundaries until the split is one the tokenizer respects.
    for k in range(len(starts) - 1, -1, -1):
        cut = starts[k]
        if cut > want:
            continue
        head, tail = prefix[:cut], prefix[cut:]
        if len(tail) > MAX_FRAGMENT_BYTES and cut != starts[-1]:
            continue
        if tok.encode(head) + tok.encode(tail) == ids:
            return head, tail
    return b"", prefix if len(prefix) <= MAX_FRAGMENT_BYTES else b""


def heal_none(fragment: bytes, tok: Tokenizer) -> HealResult:
    """Mode `none`: the fragment is tokenized as typed and nothing is emitted."""
    return HealResult(
        tokens=tuple(tok.encode(fragment)) if fragment else (),
        emitted=b"",
        records=(),
        info=HealingInfo(mode="none", fragment=fragment),
    )
