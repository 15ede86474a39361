"""More than one suggestion: the completion, and others that start with another token.

The other candidates branch at the completion's first token: the next likeliest first tokens
the model listed (each at least MIN_RATIO as likely as the one it chose), each finished by the
model from there. Every candidate has its own id, records and offer, so accepting any of them is
tracked, underlined and explained like the first. All are ordered by the model's confidence
(mean log-probability of their tokens). They run after the first completion is shown, as one
worker job that the next keystroke cancels.
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


def branched(cid: str, first: TokenRecord, alt: Alternative, rest: Completion) -> Completion:
    """`rest` (completed after `alt`) with `alt`'s own record in front, as one completion.

    The first record keeps the step's measures (the same distribution the first completion
    chose from) with `alt` as the token taken.
    """
    head = dataclasses.replace(first, id=alt.id, bytes=alt.bytes, logprob=alt.logprob)
    shift = len(alt.bytes)
    records = (head, *(dataclasses.replace(r, offset=r.offset + shift) for r in rest.records))
    text = alt.bytes.decode("utf-8") + rest.text
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
    alts = branch_tokens(c.records[0], n - 1)
    if not alts:
        return [first]
    snap = first.snapshot
    base = dataclasses.replace(completion_request(server, snap), healing="none", context=c.context)
    ids = [server.next_completion_id() for _ in alts]
    run = _run(server, snap.uri, snap.version, base, c.records[0], alts, ids)
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
    first: TokenRecord,
    alts: Sequence[Alternative],
    ids: Sequence[str],
) -> Callable[[Backend, threading.Event], list[Completion]]:
    """The worker-side function: complete after each alternative first token in turn."""

    def run(engine: Backend, cancel: threading.Event) -> list[Completion]:
        out = []
        for cid, alt in zip(ids, alts, strict=True):
            current = server.workspace.text_documents.get(uri)
            if cancel.is_set() or current is None or current.version != version:
                break
            req = dataclasses.replace(
                base,
                prefix=base.prefix + alt.bytes.decode("utf-8"),
                max_tokens=max(1, base.max_tokens - 1),
            )
            rest = engine.complete(req, cancel=cancel)
            if rest.stop_reason == "cancelled":
                break
            out.append(branched(cid, first, alt, rest))
        return out

    return run
