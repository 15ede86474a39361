"""Classic token healing against a serving engine, which gives top-k rows, not full ones.

Back off the last token of the fragment, ask the server for the next-token row after the rest,
and take the likeliest of its top `HEAL_K` tokens whose bytes start with the removed token's;
when none does, the fragment stays as typed. Byte-level healing needs full next-token rows, so
a `byte` request is healed this way and `HealingInfo.mode` says `token`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

from caveat.engine.healing.base import HealResult, heal_none
from caveat.engine.remote.records import RemoteStep
from caveat.engine.remote.tokenizer import RemoteTokenizer
from caveat.engine.types import CompletionRequest, HealingInfo
from caveat.records.measures import entropy_bounds
from caveat.records.types import Alternative, TokenRecord

#: Alternatives read when healing: the cover of the fragment is looked for among these.
HEAL_K = 200


def heal_over_wire(
    head: Sequence[int],
    fragment: bytes,
    req: CompletionRequest,
    tokenizer: RemoteTokenizer,
    row: Callable[[Sequence[int]], RemoteStep],
    n_vocab: int,
) -> HealResult:
    """Heal `fragment` (after the prompt tokens `head`); `row(context)` asks the server."""
    if req.healing == "none" or not fragment:
        return heal_none(fragment, tokenizer)
    t0 = time.perf_counter()
    ids = tokenizer.encode(fragment)
    stem, removed = ids[:-1], tokenizer.pieces[ids[-1]]
    step = row([*head, *stem])
    cands = [a for a in step.top if a.bytes.startswith(removed)]
    info = HealingInfo(
        mode="token", fragment=fragment, candidates=len(cands), rows=1, extra_passes=1
    )
    if not cands:
        ms = (time.perf_counter() - t0) * 1000
        return HealResult(tuple(ids), b"", (), dataclasses.replace(info, cover=tuple(ids), ms=ms))
    best = cands[0]
    tokens = (*stem, best.id)
    emitted = best.bytes[len(removed) :]
    records: tuple[TokenRecord, ...] = ()
    if emitted:
        records = (_choice_record(cands, len(removed), step, req.top_k, n_vocab),)
    cover_text = b"".join(tokenizer.pieces[t] for t in tokens)
    done = dataclasses.replace(
        info,
        cover=tokens,
        cover_text=cover_text.decode("utf-8", errors="replace"),
        ms=(time.perf_counter() - t0) * 1000,
    )
    return HealResult(tokens, emitted, records, done)


def _choice_record(
    cands: Sequence[Alternative], removed: int, row: RemoteStep, top_k: int, n_vocab: int
) -> TokenRecord:
    """The healed token's record: its choice among the covers the server listed.

    As in process, log-probabilities are renormalized over the covers. Covers beyond the top
    list are unseen: at most the row's tail mass, which widens the entropy interval.
    """
    mass = sum(math.exp(a.logprob) for a in cands)
    tail = max(0.0, 1.0 - sum(math.exp(lp) for lp in row.measures.top_logprobs))
    norm = math.log(mass)
    lps = [a.logprob - norm for a in cands]
    low, _ = entropy_bounds(lps, len(cands))
    _, high = entropy_bounds([a.logprob - math.log(mass + tail) for a in cands], n_vocab)
    best = cands[0]
    return TokenRecord(
        id=best.id,
        bytes=best.bytes[removed:],
        offset=0,
        logprob=lps[0],
        entropy=low,
        margin=lps[0] - lps[1] if len(lps) > 1 else math.inf,
        top=tuple(
            Alternative(a.id, a.bytes[removed:], lp)
            for a, lp in zip(cands[:top_k], lps[:top_k], strict=False)
        ),
        entropy_bounds=(low, max(low, high)),
    )
