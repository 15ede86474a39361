"""Byte-level view of the model's vocabulary: what bytes each token adds to the text."""

from __future__ import annotations

import ctypes
import zlib
from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt

from caveat.engine.lru import Lru

# Texts from this long on are encoded in remembered pieces: a keystroke re-encodes a prompt that
# differs from the last one only near its end (~5-15 ms per 12 KB in one piece).
_MEMO_MIN_BYTES = 256
# Pieces remembered: a 12 KB prompt is ~25 of them, so several documents' prompts fit. A
# vocabulary whose texts cannot be split remembers whole texts, and only a few of them.
_MEMO_PIECES = 512
_MEMO_TEXTS = 8
# A piece ends after about one line in this many, chosen by the line's own bytes so that the
# cuts stay put when the text around them shifts (the prompt's start moves as the user types).
_PIECE_LINES = 16


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
        self._joins = self._line_joins()
        limit = _MEMO_TEXTS if self._joins is None else _MEMO_PIECES
        self._memo: Lru[bytes, tuple[int, ...]] = Lru(limit)

    def _line_joins(self) -> bytes | None:
        """Bytes a token may join to a preceding newline; None if texts cannot be split.

        SentencePiece-style merging (llama.cpp's SPM) never looks past its own symbols: a text
        split after a newline encodes as the concatenation of its pieces unless some token
        holds that newline and the next byte. BPE vocabularies split with pre-tokenizer
        regexes whose lookahead may see across the cut, so they are encoded whole.
        """
        if llama_cpp.llama_vocab_type(self._vocab) != llama_cpp.LLAMA_VOCAB_TYPE_SPM:
            return None
        # A tokenizer that prefixes each text with a space (Llama 2) changes every later piece.
        if self._tokenize(b"a\nb") != self._tokenize(b"a\n") + self._tokenize(b"b"):
            return None
        joins = {
            b[i + 1]
            for b in self.token_bytes
            if b"\n" in b[:-1]
            for i in range(len(b) - 1)
            if b[i] == 0x0A
        }
        return bytes(sorted(joins))

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

    def _tokenize(self, data: bytes) -> tuple[int, ...]:
        return tuple(self._llm.tokenize(data, add_bos=False, special=False))

    def encode(self, data: bytes) -> list[int]:
        """Tokens of `data` as the tokenizer would produce them mid-document (no BOS)."""
        if not data:
            return []
        if len(data) < _MEMO_MIN_BYTES:
            return list(self._tokenize(data))
        out: list[int] = []
        start = 0
        for end in (*self._cuts(data), len(data)):
            piece = data[start:end]
            hit = self._memo.get(piece)
            if hit is None:
                hit = self._tokenize(piece)
                self._memo.put(piece, hit)
            out.extend(hit)
            start = end
        return out

    def _cuts(self, data: bytes) -> list[int]:
        """Offsets where `data` may be split for encoding (after some newlines)."""
        joins = self._joins
        if joins is None:
            return []
        cuts: list[int] = []
        line = 0
        while (nl := data.find(b"\n", line)) >= 0 and nl + 1 < len(data):
            nxt = nl + 1
            if data[nxt] not in joins and zlib.crc32(data[line:nxt]) % _PIECE_LINES == 0:
                cuts.append(nxt)
            line = nxt
        return cuts

    def decode(self, tokens: Sequence[int]) -> bytes:
        """The bytes a token sequence contributes to the text."""
        return b"".join(self.token_bytes[t] for t in tokens)
