"""The serving engine's own tokenizer, over `/tokenize`, so byte offsets stay exact.

caveat lays out prompts as token ids (the same plan the in-process engine uses), so the ids
must be the server's. `/tokenize` with pieces gives ids and the bytes of each; the bytes of ids
seen in streamed alternatives are remembered too. A piece that has never been seen is asked for
with `/detokenize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from caveat.engine.lru import Lru
from caveat.engine.model import FimTokens
from caveat.engine.remote.http import HttpClient, RemoteError

# Encodings remembered: healing and the prompt plan tokenize the same few strings repeatedly.
_ENCODE_MEMO = 64

# FIM token names per model family: prefix, suffix, middle, pad, repository name, file separator.
_FIM_NAMES = (
    (
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
    ),
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<repo_name>", "<file_sep>"),
    # DeepSeek-Coder's names use FULLWIDTH VERTICAL LINE and LOWER ONE EIGHTH BLOCK.
    (
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
        "",
        "",
        "",
    ),
    ("<PRE>", "<SUF>", "<MID>", "", "", ""),
)


class PieceTable(Sequence[bytes]):
    """Token id -> bytes, filled from what the server has told us, fetched when missing."""

    def __init__(self, client: HttpClient, n_vocab: int) -> None:
        self._client = client
        self._n = n_vocab
        self._known: dict[int, bytes] = {}

    def learn(self, token: int, data: bytes) -> None:
        """Remember the bytes of `token`."""
        self._known[token] = data

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        data = self._known.get(index)
        if data is None:
            doc = self._client.post("/detokenize", {"tokens": [index]})
            data = str(doc.get("content", "")).encode("utf-8")
            self._known[index] = data
        return data


def piece_bytes(piece: Any) -> bytes:
    """A `/tokenize` piece: a string, or a list of byte values when it is not valid UTF-8."""
    if isinstance(piece, list):
        return bytes(int(b) & 0xFF for b in piece)
    return str(piece).encode("utf-8")


class RemoteTokenizer:
    """`caveat.engine.healing.Tokenizer` over a llama.cpp server's `/tokenize`."""

    def __init__(self, client: HttpClient, n_vocab: int) -> None:
        self._client = client
        self.pieces = PieceTable(client, n_vocab)
        self._memo: Lru[bytes, list[int]] = Lru(_ENCODE_MEMO)

    @property
    def n_vocab(self) -> int:
        """Number of token ids."""
        return len(self.pieces)

    @property
    def token_bytes(self) -> Sequence[bytes]:
        """Bytes of each token id (fetched on first use)."""
        return self.pieces

    def encode(self, data: bytes) -> list[int]:
        """The server's tokens of `data` (no BOS, special-token text kept as text)."""
        if not data:
            return []
        hit = self._memo.get(data)
        if hit is not None:
            return list(hit)
        doc = self._client.post(
            "/tokenize",
            {
                # A split inside a character cannot travel as JSON text; the replacement makes
                # split_prefix's round-trip check reject that split.
                "content": data.decode("utf-8", errors="replace"),
                "add_special": False,
                "parse_special": False,
                "with_pieces": True,
            },
        )
        ids: list[int] = []
        for item in doc.get("tokens", []):
            if not isinstance(item, dict):
                raise RemoteError("the server's /tokenize does not return pieces (too old?)")
            tok = int(item["id"])
            self.pieces.learn(tok, piece_bytes(item.get("piece", "")))
            ids.append(tok)
        self._memo.put(data, ids)
        return list(ids)

    def special(self, text: str) -> int:
        """The id of `text` when the vocabulary has it as one special token, else -1.

        Special means: one token when special tokens are parsed, several when they are not
        (so ordinary text that happens to be one token does not count).
        """
        as_special = self._client.post(
            "/tokenize", {"content": text, "add_special": False, "parse_special": True}
        ).get("tokens", [])
        if len(as_special) != 1 or isinstance(as_special[0], dict):
            return -1
        if len(self.encode(text.encode("utf-8"))) < 2:
            return -1
        return int(as_special[0])

    def fim_tokens(self) -> FimTokens:
        """The server model's FIM token ids, found by their names in the known families.

        The server does not report them (its `/infill` uses them internally), so the names of
        Qwen2.5-Coder/CodeGemma, StarCoder, DeepSeek-Coder and Code Llama are tried in turn.
        """
        for names in _FIM_NAMES:
            ids: list[int] = []
            for name in names[:3]:  # a family whose prefix token is missing costs one lookup
                ids.append(self.special(name))
                if ids[-1] < 0:
                    break
            else:
                extra = [self.special(n) if n else -1 for n in names[3:]]
                return FimTokens(*ids, *extra)
        return FimTokens()

    def bos(self) -> int:
        """The BOS id the server adds to a prompt, or -1 when it adds none."""
        doc = self._client.post("/tokenize", {"content": "", "add_special": True})
        toks = [int(t) for t in doc.get("tokens", []) if not isinstance(t, dict)]
        return toks[0] if toks else -1
