"""Byte-level view of the model's vocabulary: what bytes each token adds to the text."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt

from caveat.engine.lru import Lru

# Long texts whose tokens are remembered: a keystroke re-encodes the same prompt head several
# times (to split off the fragment, then to build the prompt), ~10 ms per 12 KB each time.
_MEMO_MIN_BYTES = 256
_MEMO_ENTRIES = 8


class Vocabulary:
    """Token byte table and encode/decode, built once per loaded model.

    Control tokens (BOS, EOS, turn markers, FIM markers) contribute no bytes: they never appear
    in document text, so healing must not offer them as covers and decoding stops on them.
    Byte-fallback tokens (`<0x41>`) map to their single raw byte, so a token may hold an
    incomplete UTF-8 sequence; text is only decoded once the bytes are joined.
    """

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.n_vocab: int = int(llm.n_vocab())
        self.token_bytes: list[bytes] = self._build_table()
        self.is_control: npt.NDArray[np.bool_] = np.array(
            [self._is_control(t) for t in range(self.n_vocab)], dtype=bool
        )
        self._memo: Lru[bytes, tuple[int, ...]] = Lru(_MEMO_ENTRIES)

    def _build_table(self) -> list[bytes]:
        buf = ctypes.create_string_buffer(256)
        table: list[bytes] = []
        to_piece = llama_cpp.llama_token_to_piece
        for tok in range(self.n_vocab):
            # special=False: control tokens render as b"" instead of their marker text.
            n = to_piece(self._vocab, tok, buf, 256, 0, False)
            if n < 0:
                big = ctypes.create_string_buffer(-n)
                n = to_piece(self._vocab, tok, big, -n, 0, False)
                table.append(big.raw[:n])
            else:
                table.append(buf.raw[:n])
        return table

    def _is_control(self, tok: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_control(self._vocab, tok)) or bool(
            llama_cpp.llama_vocab_is_eog(self._vocab, tok)
        )

    def is_eog(self, tok: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, and the family's turn markers)."""
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, tok))

    def encode(self, data: bytes) -> list[int]:
        """Tokens of `data` as the tokenizer would produce them mid-document (no BOS)."""
        if not data:
            return []
        if len(data) < _MEMO_MIN_BYTES:
            return list(self._llm.tokenize(data, add_bos=False, special=False))
        hit = self._memo.get(data)
        if hit is None:
            hit = tuple(self._llm.tokenize(data, add_bos=False, special=False))
            self._memo.put(data, hit)
        return list(hit)

    def decode(self, tokens: Sequence[int]) -> bytes:
        """The bytes a token sequence contributes to the text."""
        return b"".join(self.token_bytes[t] for t in tokens)
