"""The `token` (classic) and `byte` (exact) healing modes, and the records they emit.

Both return the tokens to append after the prompt context and the bytes past the cursor that
those tokens already contribute; the decode loop continues ordinary token decoding from there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from caveat.engine.healing.base import HealResult, NextTokenLM, Tokenizer
from caveat.engine.healing.byte_table import table_for
from caveat.engine.healing.covers import Cover, CoverSearch, FloatArray, LMCache
from caveat.engine.types import HealingInfo
from caveat.records.measures import log_partition, token_measures
from caveat.records.types import Alternative, TokenRecord

# Per-byte greedy decoding stops after this many bytes past the cursor even if several covers
# are still alive; the most probable one is kept (only reached on long multi-token ties).
MAX_HEAL_BYTES = 48


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _choice_record(
    ids: Sequence[int], tails: Sequence[bytes], logps: FloatArray, chosen: int, top_k: int
) -> TokenRecord:
    """Record of one choice among candidates (covers or constrained tokens) by their log-mass."""
    lp = logps - log_partition(logps)
    p = np.exp(lp)
    order = np.argsort(-lp, kind="stable")
    entropy = float(-(p[p > 0] * lp[p > 0]).sum())
    margin = float(lp[order[0]] - lp[order[1]]) if len(order) > 1 else math.inf
    top = tuple(Alternative(int(ids[k]), tails[k], float(lp[k])) for k in order[:top_k])
    return TokenRecord(
        id=int(ids[chosen]),
        bytes=tails[chosen],
        offset=0,
        logprob=float(lp[chosen]),
        entropy=max(0.0, entropy),
        margin=margin,
        top=top,
    )


def _lm_record(row: FloatArray, t: int, offset: int, tok: Tokenizer, top_k: int) -> TokenRecord:
    """Ordinary record of token t drawn from a full next-token row."""
    # Floor -inf (tokens a model rules out) so that 0 * -inf cannot turn the entropy into NaN.
    m = token_measures(np.maximum(row, -1e30).astype(np.float32), t, k=top_k)
    top = tuple(
        Alternative(i, tok.token_bytes[i], lp)
        for i, lp in zip(m.top_ids, m.top_logprobs, strict=True)
    )
    return TokenRecord(
        id=t,
        bytes=tok.token_bytes[t],
        offset=offset,
        logprob=m.logprob,
        entropy=m.entropy,
        margin=m.margin,
        top=top,
    )


def heal_token(
    context: Sequence[int], fragment: bytes, tok: Tokenizer, lm: NextTokenLM, top_k: int
) -> HealResult:
    """Classic token healing: back off the last token, force the next to start with its bytes."""
    start = time.perf_counter()
    ids = tok.encode(fragment)
    stem, removed = tuple(ids[:-1]), tok.token_bytes[ids[-1]]
    cache = LMCache(lm, context)
    row = cache.row(stem)
    cands = table_for(tok, tok.token_bytes).with_prefix(removed)
    scores = row[cands]
    k = int(np.argmax(scores))
    t = int(cands[k])
    emitted = tok.token_bytes[t][len(removed) :]
    tails = [tok.token_bytes[int(c)][len(removed) :] for c in cands]
    records = (_choice_record(cands.tolist(), tails, scores, k, top_k),) if emitted else ()
    tokens = (*stem, t)
    return HealResult(
        tokens=tokens,
        emitted=emitted,
        records=records,
        info=HealingInfo(
            mode="token",
            fragment=fragment,
            cover=tokens,
            cover_text=_text(b"".join(tok.token_bytes[i] for i in tokens)),
            candidates=int(cands.shape[0]),
            rows=cache.passes,
            extra_passes=cache.passes,
            ms=(time.perf_counter() - start) * 1000.0,
        ),
    )


def heal_byte(
    context: Sequence[int],
    fragment: bytes,
    tok: Tokenizer,
    lm: NextTokenLM,
    top_k: int,
    prune: float,
    max_rows: int | None = None,
) -> HealResult:
    """Exact byte-level healing: greedy over next bytes until one cover remains.

    `max_rows` bounds the next-token rows read (None: exact, however many it takes).
    """
    start = time.perf_counter()
    cache = LMCache(lm, context)
    search = CoverSearch(tok, table_for(tok, tok.token_bytes), cache, prune)
    initial = search.initial(fragment)
    if not initial:
        # Nothing in the vocabulary covers the fragment (cannot happen with byte fallback):
        # fall back to the fragment as typed.
        ids = tuple(tok.encode(fragment))
        return HealResult(ids, b"", (), HealingInfo(mode="byte", fragment=fragment, cover=ids))
    winner, _ = search.greedy(fragment, initial, len(fragment) + MAX_HEAL_BYTES, max_rows)
    records = _records(winner, initial, fragment, tok, cache, top_k)
    return HealResult(
        tokens=winner.tokens,
        emitted=winner.data[len(fragment) :],
        records=records,
        info=HealingInfo(
            mode="byte",
            fragment=fragment,
            cover=winner.tokens,
            cover_text=_text(winner.data),
            candidates=len(initial),
            rows=cache.passes,
            extra_passes=cache.passes,
            ms=(time.perf_counter() - start) * 1000.0,
        ),
    )


def _records(
    winner: Cover,
    initial: Sequence[Cover],
    fragment: bytes,
    tok: Tokenizer,
    cache: LMCache,
    top_k: int,
) -> tuple[TokenRecord, ...]:
    """One record per winning-cover token that emits bytes past the cursor.

    The token that straddles the cursor is scored among all covers of the fragment (its exact
    byte-level probability given the prefix); tokens after it are scored by their own rows.
    """
    records: list[TokenRecord] = []
    n = len(fragment)
    end = 0
    for j, t in enumerate(winner.tokens):
        begin, end = end, end + len(tok.token_bytes[t])
        if end <= n:
            continue
        if begin < n:
            first = winner.tokens[: j + 1]
            k = next(i for i, c in enumerate(initial) if c.tokens == first)
            logps = np.array([c.logp for c in initial], dtype=np.float64)
            tails = [c.data[n:] for c in initial]
            ids = [c.tokens[-1] for c in initial]
            records.append(_choice_record(ids, tails, logps, k, top_k))
        else:
            records.append(_lm_record(cache.row(winner.tokens[:j]), t, begin - n, tok, top_k))
    return tuple(records)
