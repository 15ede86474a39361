"""More than one suggestion: the completion, and others that take another turn early.

The other candidates branch at the completion's first token where the model hesitated: the next
likeliest tokens it listed there (each at least MIN_RATIO as likely as the one it chose), each
finished by the model from there; what came before that token is shared. Where the model was
sure of every token there is nothing to branch on, and one candidate is all there is. Every
candidate has its own id, records and offer, so accepting any of them is tracked, underlined and
explained like the first. All are ordered by the model's confidence (mean log-probability of
their tokens). They run after the first completion is shown, as one worker job that the next
keystroke cancels.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
from collections.abc import Callable, Sequence

from caveat.engine.backend import Backend
from caveat.engine.errors import ModelError
from caveat.engine.types import Completion, CompletionRequest
from caveat.records.types import Alternative, TokenRecord
from caveat.server.completing import Outcome, completion_request, offer_for, publish_candidate
from caveat.server.server import CaveatServer, CompletionEntry
from caveat.server.worker import Job, JobCancelled, ModelUnavailable

#: A first token less likely than this share of the chosen one is not worth a completion.
MIN_RATIO = 0.05
#: The most candidates one request may ask for.
MAX_CANDIDATES = 8


def branch_tokens(first: TokenRecord, count: int) -> list[Alternative]:
    """The other first tokens worth completing: likeliest first, whole characters, not blank."""
    floor = first.logprob + math.log(MIN_RATIO)
    out: list[Alternative] = []
    for alt in first.top:
        if len(out) == count:
            break
        if alt.id == first.id or alt.bytes == first.bytes or alt.logprob < floor:
            continue
        try:
            text = alt.bytes.decode("utf-8")
        except UnicodeDecodeError:
            continue  # part of a character: no text to start a completion with
        if text.strip():
            out.append(alt)
    return out


def branch_point(records: Sequence[TokenRecord], count: int) -> tuple[int, list[Alternative]]:
    """The first record with alternatives worth completing, and those; (-1, []) when none."""
    for i, rec in enumerate(records):
        alts = branch_tokens(rec, count)
        if alts:
            return i, alts
    return -1, []


def branched(cid: str, base: Completion, at: int, alt: Alternative, rest: Completion) -> Completion:
    """`base` up to record `at`, then `alt`, then `rest` (completed after it), as one completion.

    The records before `at` are shared; `alt`'s record keeps the step's measures (the same
    distribution `base` chose from) with `alt` as the token taken.
    """
    pivot = base.records[at]
    head = dataclasses.replace(pivot, id=alt.id, bytes=alt.bytes, logprob=alt.logprob)
    before = base.text.encode("utf-8")[: pivot.offset]
    shift = pivot.offset + len(alt.bytes)
    records = (
        *base.records[:at],
        head,
        *(dataclasses.replace(r, offset=r.offset + shift) for r in rest.records),
    )
    text = (before + alt.bytes).decode("utf-8") + rest.text
    return dataclasses.replace(rest, id=cid, text=text, records=records)


def confidence(completion: Completion) -> float:
    """Mean log-probability of the completion's tokens (higher = surer)."""
    recs = completion.records
    return sum(r.logprob for r in recs) / len(recs) if recs else -math.inf


async def with_candidates(server: CaveatServer, first: Outcome, n: int) -> list[Outcome]:
    """`first` and up to n - 1 more candidates, ordered by the model's confidence.

    Returns just `first` when it is empty, n is 1, or the document changed meanwhile.
    """
    c = first.completion
    n = max(1, min(n, MAX_CANDIDATES))
    if n == 1 or first.cancelled or c is None or not c.records:
        return [first]
    at, alts = branch_point(c.records, n - 1)
    if at < 0:
        return [first]
    try:
        lead = c.text.encode("utf-8")[: c.records[at].offset].decode("utf-8")
    except UnicodeDecodeError:
        return [first]  # the branch would start inside a character
    snap = first.snapshot
    base = dataclasses.replace(completion_request(server, snap), healing="none", context=c.context)
    ids = [server.next_completion_id() for _ in alts]
    base = dataclasses.replace(base, prefix=base.prefix + lead)
    run = _run(server, snap.uri, snap.version, base, c, at, alts, ids)
    job = Job(run, key=snap.uri, kind="candidates")
    server.worker.submit(job)
    try:
        done = await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancel.set()
        raise
    except (JobCancelled, ModelUnavailable, ModelError):
        return [first]
    current = server.workspace.text_documents.get(snap.uri)
    if current is None or current.version != snap.version:
        return [first]
    more = []
    for completion in done:
        entry = CompletionEntry(
            snap.uri, snap.version, snap.offset, completion, offer_for(server, snap, completion)
        )
        more.append(publish_candidate(server, snap, completion.id, entry))
    return sorted([first, *more], key=lambda o: -confidence(o.completion) if o.completion else 0)


def _run(
    server: CaveatServer,
    uri: str,
    version: int | None,
    base: CompletionRequest,
    shown: Completion,
    at: int,
    alts: Sequence[Alternative],
    ids: Sequence[str],
) -> Callable[[Backend, threading.Event], list[Completion]]:
    """The worker-side function: complete after each alternative token in turn."""

    def run(engine: Backend, cancel: threading.Event) -> list[Completion]:
        out = []
        for cid, alt in zip(ids, alts, strict=True):
            current = server.workspace.text_documents.get(uri)
            if cancel.is_set() or current is None or current.version != version:
                break
            req = dataclasses.replace(
                base,
                prefix=base.prefix + alt.bytes.decode("utf-8"),
                max_tokens=max(1, base.max_tokens - at - 1),
            )
            rest = engine.complete(req, cancel=cancel)
            if rest.stop_reason == "cancelled":
                break
            out.append(branched(cid, shown, at, alt, rest))
        return out

    return run
