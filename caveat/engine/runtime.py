"""The llama context with a remembered token list, so each request evaluates only what changed.

KV-cache prefix reuse: the runtime keeps the tokens whose keys and values sit in the cache; a
new sequence keeps the longest common prefix and evaluates only the tail after it. Logits are
requested for the last position only (scan asks for chunks of positions explicitly).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: Hidden switch for benchmarks: `CAVEAT_KV_REUSE=0` starts every request from an empty cache
#: (within a request, healing stems and the prompt still share it, as any engine would).
KV_REUSE_ENV = "CAVEAT_KV_REUSE"


def kv_reuse_default() -> bool:
    """KV prefix reuse is on unless the environment turns it off (for cold-cache benchmarks)."""
    return os.environ.get(KV_REUSE_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


@dataclass
class EngineStats:
    """Cumulative prompt-token counters, read by tests and benchmarks."""

    prompt_tokens_evaluated: int = 0
    prompt_tokens_reused: int = 0
    decode_steps: int = 0
    forward_passes: int = 0


class ContextFullError(Exception):
    """The sequence does not fit the context window."""


class Runtime:
    """Owns the llama context's KV cache and the token list it holds (one sequence, id 0)."""

    def __init__(self, llm: llama_cpp.Llama, n_batch: int, *, reuse: bool | None = None) -> None:
        self._llm = llm
        # Off: the engine clears the cache at the start of every request (cold-cache benchmarks).
        self.reuse: bool = kv_reuse_default() if reuse is None else reuse
        self._ctx = llm.ctx
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self.n_ctx: int = int(llm.n_ctx())
        self.n_vocab: int = int(llm.n_vocab())
        self.n_batch = n_batch
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.tokens: list[int] = []
        # Row index (in the last decoded batch) whose logits describe the next token after
        # self.tokens, or None when the last decode did not end at self.tokens' end.
        self._last_row: int | None = None
        self.stats = EngineStats()

    def close(self) -> None:
        """Free the batch buffers (the Llama object frees the context)."""
        llama_cpp.llama_batch_free(self._batch)

    def reset(self) -> None:
        """Forget the whole cache."""
        llama_cpp.llama_memory_clear(self._mem, True)
        self.tokens = []
        self._last_row = None

    def _truncate(self, n: int) -> None:
        if n < len(self.tokens):
            if not llama_cpp.llama_memory_seq_rm(self._mem, 0, n, -1):
                # Some caches cannot drop a tail; start over rather than attend to stale keys.
                self.reset()
                return
            del self.tokens[n:]
            self._last_row = None

    def sync(self, tokens: Sequence[int]) -> int:
        """Make the cache hold exactly `tokens` with logits for the next token; return #evaluated.

        Only the tail after the longest common prefix with the cached tokens is evaluated. When
        the cache already holds all of `tokens`, the last one is re-evaluated (its logits were
        not kept) unless the last decode ended exactly there.
        """
        if len(tokens) >= self.n_ctx:
            raise ContextFullError(f"{len(tokens)} tokens do not fit a {self.n_ctx}-token context")
        if not tokens:
            raise ValueError("cannot evaluate an empty sequence")
        lcp = 0
        limit = min(len(tokens), len(self.tokens))
        cached = self.tokens
        while lcp < limit and cached[lcp] == tokens[lcp]:
            lcp += 1
        if lcp == len(tokens) == len(self.tokens) and self._last_row is not None:
            self.stats.prompt_tokens_reused += lcp
            return 0
        if lcp == len(tokens):
            lcp -= 1
        self._truncate(lcp)
        if len(self.tokens) != lcp:  # the cache was reset
            lcp = 0
        tail = list(tokens[lcp:])
        self._decode(tail, logits_for_last=True)
        self.stats.prompt_tokens_evaluated += len(tail)
        self.stats.prompt_tokens_reused += lcp
        return len(tail)

    def append(self, token: int) -> None:
        """Evaluate one more token (a decode step)."""
        if len(self.tokens) + 1 >= self.n_ctx:
            raise ContextFullError("context window is full")
        self._decode([token], logits_for_last=True)
        self.stats.decode_steps += 1

    def logits(self) -> FloatArray:
        """The next-token logits after `self.tokens`: a view into llama.cpp's buffer.

        Valid until the next decode; copy it if it must outlive that.
        """
        if self._last_row is None:
            raise RuntimeError("no logits for the current sequence; call sync() first")
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, self._last_row)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _decode(self, tokens: Sequence[int], *, logits_for_last: bool) -> None:
        batch = self._batch
        pos = len(self.tokens)
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            last_chunk = start + self.n_batch >= len(tokens)
            self._fill(chunk, pos, want_rows=[len(chunk) - 1] if last_chunk else [])
            rc = llama_cpp.llama_decode(self._ctx, batch)
            self.stats.forward_passes += 1
            if rc != 0:
                self._last_row = None
                raise RuntimeError(f"llama_decode failed with code {rc}")
            self.tokens.extend(chunk)
            pos += len(chunk)
        self._last_row = -1 if logits_for_last else None

    def _fill(self, chunk: Sequence[int], pos: int, want_rows: Sequence[int]) -> None:
        batch = self._batch
        batch.n_tokens = len(chunk)
        want = set(want_rows)
        for i, tok in enumerate(chunk):
            batch.token[i] = tok
            batch.pos[i] = pos + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = i in want

    def decode_positions(self, tokens: Sequence[int]) -> FloatArray:
        """Append `tokens` (at most n_batch) and return logits for every one of them.

        Used by teacher-forced scoring: row i holds the distribution of the token after
        tokens[i]. Returns a copy (n x n_vocab float32).
        """
        if len(tokens) > self.n_batch:
            raise ValueError("decode_positions takes at most n_batch tokens")
        if len(self.tokens) + len(tokens) >= self.n_ctx:
            raise ContextFullError("context window is full")
        self._fill(tokens, len(self.tokens), want_rows=range(len(tokens)))
        rc = llama_cpp.llama_decode(self._ctx, self._batch)
        self.stats.forward_passes += 1
        if rc != 0:
            self._last_row = None
            raise RuntimeError(f"llama_decode failed with code {rc}")
        self.tokens.extend(tokens)
        self._last_row = -1
        ptr = llama_cpp.llama_get_logits(self._ctx)
        rows: FloatArray = np.ctypeslib.as_array(ptr, shape=(len(tokens), self.n_vocab)).copy()
        return rows
