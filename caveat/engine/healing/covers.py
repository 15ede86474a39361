"""Covers of a byte prefix, the exact next-byte distribution, and byte-by-byte greedy healing.

"Exact Byte-Level Probabilities from Tokenized Language Models for FIM-Tasks and Model
Ensembles" (Phan et al., 2024): a token sequence c is a *cover* of bytes x when every token but
the last decodes to a strict prefix of x, x is a prefix of decode(c), and c is valid (it is its
own canonical encoding). P(text starts with x) = sum over covers of P(c), so the model's
distribution over the next byte after x is a sum over covers, grouped by the byte that follows x.
All log-probabilities here are conditional on the fixed `context` the caller encoded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from caveat.engine.healing.base import NextTokenLM, Tokenizer
from caveat.engine.healing.byte_table import END, ByteTable, IntArray

FloatArray = npt.NDArray[np.float64]

# When pruning is on, at most this many candidate tokens are re-encoded per stem: candidates
# are tried best first, so the ones left out carry less mass than every one kept.
_MAX_CHECKS = 256


@dataclass(frozen=True)
class Cover:
    """A token sequence after the context, its log-probability and its decoded bytes."""

    tokens: tuple[int, ...]
    logp: float
    data: bytes


class LMCache:
    """Memoised next-token rows for context + relative token tuples; counts the model calls."""

    def __init__(self, lm: NextTokenLM, context: Sequence[int]) -> None:
        self._lm = lm
        self._context = list(context)
        self._rows: dict[tuple[int, ...], FloatArray] = {}
        self.passes = 0

    def prefetch(self, rels: Sequence[tuple[int, ...]]) -> None:
        """Fetch many rows in one batched model call when the LM offers `logprobs_many`.

        Stems of different split points share the context's KV cache and differ in a token or
        two, so one batched forward pass can score them all; without the method, rows are
        fetched one by one on demand (and pruning may skip some).
        """
        many = getattr(self._lm, "logprobs_many", None)
        missing = list(dict.fromkeys(r for r in rels if r not in self._rows))
        if many is None or len(missing) < 2:
            return
        self.passes += 1
        got = many([self._context + list(r) for r in missing])
        for rel, lp in zip(missing, got, strict=True):
            self._rows[rel] = np.asarray(lp, dtype=np.float64)

    def row(self, rel: tuple[int, ...]) -> FloatArray:
        """Log-probabilities of the next token after context + rel."""
        hit = self._rows.get(rel)
        if hit is None:
            self.passes += 1
            hit = np.asarray(self._lm.logprobs(self._context + list(rel)), dtype=np.float64)
            self._rows[rel] = hit
        return hit

    def path_logp(self, rel: tuple[int, ...], floor: float = -math.inf) -> float | None:
        """log P(rel | context), or None once the running sum falls below `floor`."""
        total = 0.0
        for j, t in enumerate(rel):
            total += float(self.row(rel[:j])[t])
            if total < floor:
                return None
        return total


class CoverSearch:
    """Cover enumeration and byte-level greedy decoding for one context."""

    def __init__(
        self,
        tok: Tokenizer,
        table: ByteTable,
        lm: LMCache,
        prune: float = 0.0,
    ) -> None:
        self.tok = tok
        self.table = table
        self.lm = lm
        # Covers whose mass is below prune x (best cover's mass) are dropped; 0 keeps all (exact).
        self.log_prune = math.log(prune) if prune > 0 else -math.inf
        self._ext: dict[tuple[int, ...], list[Cover]] = {}

    def _valid(self, tokens: tuple[int, ...], data: bytes) -> bool:
        """A sequence is valid when re-encoding its bytes gives it back."""
        return tuple(self.tok.encode(data)) == tokens

    def initial(self, x: bytes) -> list[Cover]:
        """All (unpruned) covers of x: stem = encode(x[:i]) plus one token starting with x[i:]."""
        covers: list[Cover] = []
        best = -math.inf
        tb = self.tok.token_bytes
        # Only split points whose remainder starts some token can end a cover: checking that
        # first saves the model calls of stems reaching far back into a long identifier.
        stems: list[tuple[int, tuple[int, ...], IntArray]] = []
        for i in range(len(x)):
            cands = self.table.with_prefix(x[i:])
            if cands.shape[0] == 0:
                continue
            stem = tuple(self.tok.encode(x[:i])) if i else ()
            if b"".join(tb[t] for t in stem) == x[:i]:
                stems.append((i, stem, cands))
        self.lm.prefetch([s[:j] for _, s, _ in stems for j in range(len(s) + 1)])
        for i, stem, cands in stems:
            stem_lp = self.lm.path_logp(stem, best + self.log_prune)
            if stem_lp is None:
                continue
            scores = stem_lp + self.lm.row(stem)[cands]
            for checks, k in enumerate(_best_first(scores, _cap(self.log_prune))):
                s = float(scores[k])
                if s == -math.inf or s < best + self.log_prune:
                    break
                if self.log_prune > -math.inf and checks >= _MAX_CHECKS:
                    break
                t = int(cands[k])
                seq = (*stem, t)
                data = x[:i] + tb[t]
                if self._valid(seq, data):
                    covers.append(Cover(seq, s, data))
                    best = max(best, s)
        return self._pruned(covers)

    def _pruned(self, covers: list[Cover]) -> list[Cover]:
        if not covers or self.log_prune == -math.inf:
            return covers
        best = max(c.logp for c in covers)
        return [c for c in covers if c.logp >= best + self.log_prune]

    def _extensions(self, cover: Cover, best: float) -> tuple[list[Cover], FloatArray]:
        """Valid one-token extensions of a cover that ends exactly at x, and its END mass row."""
        row = self.lm.row(cover.tokens)
        cached = self._ext.get(cover.tokens)
        if cached is not None:
            return cached, row
        tb = self.tok.token_bytes
        ids = self.table.nonempty_ids
        scores = cover.logp + row[ids]
        keep = ids[scores >= best + self.log_prune] if self.log_prune > -math.inf else ids
        out: list[Cover] = []
        cap = _cap(self.log_prune)
        for t in keep[_best_first(row[keep], cap)][:cap]:
            lp = float(row[t])
            if lp == -math.inf:
                continue
            seq = (*cover.tokens, int(t))
            data = cover.data + tb[int(t)]
            if self._valid(seq, data):
                out.append(Cover(seq, cover.logp + lp, data))
        self._ext[cover.tokens] = out
        return out, row

    def next_byte(self, covers: Sequence[Cover], x: bytes) -> FloatArray:
        """Unnormalised log-mass of each next byte (index 256 = end of text) after x."""
        best = max(c.logp for c in covers)
        mass = np.zeros(END + 1, dtype=np.float64)
        n = len(x)
        for c in covers:
            if len(c.data) > n:
                mass[c.data[n]] += math.exp(c.logp - best)
                continue
            exts, row = self._extensions(c, best)
            for e in exts:
                mass[e.data[n]] += math.exp(e.logp - best)
            empty = self.table.empty_ids
            if empty.shape[0]:
                mass[END] += math.exp(c.logp - best) * float(np.exp(row[empty]).sum())
        with np.errstate(divide="ignore"):
            return np.log(mass) + best

    def advance(self, covers: Sequence[Cover], x: bytes, b: int) -> list[Cover]:
        """The covers of x + b, given the covers of x."""
        best = max(c.logp for c in covers)
        n = len(x)
        out: list[Cover] = []
        for c in covers:
            if len(c.data) > n:
                if c.data[n] == b:
                    out.append(c)
                continue
            exts, _ = self._extensions(c, best)
            out.extend(e for e in exts if e.data[n] == b)
        return self._pruned(out)

    def greedy(
        self, x: bytes, covers: list[Cover], max_bytes: int, max_rows: int | None = None
    ) -> tuple[Cover, bytes]:
        """Pick the most probable next byte until one cover remains; return it and the bytes.

        Stops early (with the most probable cover) when the end of text is the most probable
        continuation, after `max_bytes` bytes, or once `max_rows` model rows have been read.
        """
        while len(covers) > 1 and len(x) < max_bytes:
            if max_rows is not None and self.lm.passes >= max_rows:
                break
            logm = self.next_byte(covers, x)
            b = int(np.argmax(logm))
            if b == END:
                exact = [c for c in covers if c.data == x]
                return max(exact, key=lambda c: c.logp), x
            covers = self.advance(covers, x, b)
            x += bytes([b])
        return max(covers, key=lambda c: c.logp), x


def _cap(log_prune: float) -> int | None:
    """How many extension candidates to re-encode: all when exact, a bounded few when pruning."""
    return None if log_prune == -math.inf else _MAX_CHECKS


def _best_first(scores: FloatArray, limit: int | None) -> IntArray:
    """Indices of `scores` from highest to lowest, ties by index, at least the first `limit`.

    The same order as a stable argsort of -scores, cut after `limit` (ties with the last one
    kept stay in): a space-led fragment has ~10^5 candidate tokens and sorting them all was
    most of a keystroke's healing time.
    """
    if limit is None or limit >= scores.shape[0]:
        return np.argsort(-scores, kind="stable")
    floor = np.partition(scores, scores.shape[0] - limit)[scores.shape[0] - limit]
    top = np.flatnonzero(scores >= floor)
    return top[np.argsort(-scores[top], kind="stable")]


def next_byte_distribution(
    context: Sequence[int],
    x: bytes,
    tok: Tokenizer,
    lm: NextTokenLM,
    table: ByteTable,
    *,
    prune: float = 0.0,
) -> FloatArray:
    """P(next byte | text so far = decode(context) + x); index 256 is the end of the text."""
    search = CoverSearch(tok, table, LMCache(lm, context), prune)
    covers = search.initial(x) if x else [Cover((), 0.0, b"")]
    logm = search.next_byte(covers, x)
    top = float(np.max(logm))
    p = np.exp(logm - top)
    return np.asarray(p / p.sum(), dtype=np.float64)
