"""One completion request, end to end: snapshot, debounce, worker job, stream, stale drop.

Shared by `textDocument/inlineCompletion`, `textDocument/completion` and `caveat/complete`.
The handler side runs on the event loop; `_Job` runs on the model worker thread. A request
whose keystrokes typed the beginning of the completion shown last gets its rest at once
(`caveat.annotate.typeahead`), without debounce or model.
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from caveat.annotate.regions import annotate, offer_from_region
from caveat.annotate.typeahead import Shown, continuation
from caveat.engine.backend import Backend
from caveat.engine.errors import ModelError
from caveat.engine.types import Completion, CompletionRequest, Timings
from caveat.records.types import TokenRecord
from caveat.scoring.spans import token_level
from caveat.server.context import gather
from caveat.server.positions import utf16_len
from caveat.server.server import CaveatServer, CompletionEntry
from caveat.server.worker import Job, JobCancelled, ModelUnavailable

logger = logging.getLogger(__name__)

#: LSP 3.17 "RequestFailed": the request was valid but the server could not answer it.
REQUEST_FAILED = -32803
_TRAILING_SPACE = " \t\r\n"


@dataclass(frozen=True)
class Snapshot:
    """The document as it was when the request arrived."""

    uri: str
    version: int | None
    text: str
    offset: int
    position: types.Position
    language: str | None


@dataclass
class Outcome:
    """What a completion request produced (an empty, cancelled one when superseded or stale)."""

    id: str
    snapshot: Snapshot
    completion: Completion | None = None
    tokens: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The completion text ("" when cancelled)."""
        return self.completion.text if self.completion is not None else ""

    @property
    def cancelled(self) -> bool:
        """Whether nothing usable came out."""
        return self.completion is None or self.completion.stop_reason == "cancelled"


class Streamer:
    """Worker thread: turns records into `$/progress` chunks of whole characters.

    Trailing whitespace is held back until something follows it, because the engine trims
    trailing blank lines from the final text; so the chunks always concatenate to the result.
    """

    def __init__(
        self, server: CaveatServer, token: types.ProgressToken, completion_id: str
    ) -> None:
        """Stream for the request's `partialResultToken`."""
        self.server = server
        self.token = token
        self.id = completion_id
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._data = b""
        self._decoded = ""
        self.sent = ""
        self._records: list[TokenRecord] = []
        self._sent_tokens = 0
        self.first_chunk_at: float | None = None

    def on_token(self, record: TokenRecord) -> None:
        """Take one record; send whatever text became safe to show."""
        self._records.append(record)
        self._data += record.bytes
        self._decoded += self._decoder.decode(record.bytes)
        ready = self._decoded.rstrip(_TRAILING_SPACE)
        if len(ready) > len(self.sent):
            self._send(ready[len(self.sent) :])

    def finish(self, completion: Completion) -> None:
        """Send what the final text adds to the chunks so far (on the event loop)."""
        final = completion.text
        if not final.startswith(self.sent):
            logger.warning("streamed text is not a prefix of completion %s", self.id)
            return
        self._records = list(completion.records)
        if len(final) > len(self.sent) or self._sent_tokens < len(self._records):
            self._send(final[len(self.sent) :], final)

    def _send(self, chunk: str, final: str | None = None) -> None:
        """Send one chunk with the tokens that start inside the text shown so far."""
        self.sent += chunk
        shown = len(self.sent.encode("utf-8"))
        text = final if final is not None else self.sent
        new = []
        while self._sent_tokens < len(self._records):
            record = self._records[self._sent_tokens]
            if final is None and record.offset >= shown:
                break
            new.append(_token(record, text, self.server))
            self._sent_tokens += 1
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()
        value = {"id": self.id, "text": chunk, "tokens": new}
        self.server.call_soon(
            self.server.protocol.notify,
            types.PROGRESS,
            types.ProgressParams(token=self.token, value=value),
        )


def _token(record: TokenRecord, text: str, server: CaveatServer) -> dict[str, Any]:
    """One `caveat/complete` token: text, UTF-16 offset in the completion, scores, level.

    Offsets only need the completion text before the token, so a streamed token is placed
    against the text known so far.
    """
    head = text.encode("utf-8")[: record.offset].decode("utf-8", errors="ignore")
    thresholds = server.thresholds
    return {
        "text": record.text,
        "offset": utf16_len(head),
        "logprob": record.logprob,
        "entropy": record.entropy,
        "level": token_level(record, thresholds, generated=True) if thresholds else None,
    }


def snapshot(server: CaveatServer, uri: str, position: types.Position) -> Snapshot:
    """Capture the document text and cursor offset now."""
    from caveat.server.positions import PositionMap, well_formed

    doc = server.document(uri)
    text = well_formed(doc.source)
    offset = PositionMap(text, doc.position_codec).offset(position)
    return Snapshot(uri, doc.version, text, offset, position, doc.language_id)


def completion_request(server: CaveatServer, snap: Snapshot) -> CompletionRequest:
    """What to ask the model at the snapshot's cursor, by the current settings."""
    settings = server.settings.completion
    return CompletionRequest(
        prefix=snap.text[: snap.offset],
        suffix=snap.text[snap.offset :],
        language=snap.language,
        max_tokens=settings.max_tokens,
        healing=settings.healing,
        temperature=settings.temperature,
        typical_p=settings.typical_p,
        decoding=settings.decoding,
        entropy_threshold=server.thresholds.entropy if server.thresholds else None,
    )


def _run_job(
    server: CaveatServer,
    snap: Snapshot,
    completion_id: str,
    on_token: Callable[[TokenRecord], None] | None,
) -> Callable[[Backend, threading.Event], tuple[Completion, CompletionEntry]]:
    """The worker-side function: complete, then score spans for later acceptance."""
    req = completion_request(server, snap)
    context = gather(server, snap.uri, snap.text, snap.offset, snap.language)

    def run(engine: Backend, cancel: threading.Event) -> tuple[Completion, CompletionEntry]:
        current = server.workspace.text_documents.get(snap.uri)
        if current is None or current.version != snap.version:
            raise JobCancelled()
        request = dataclasses.replace(req, context=context(engine))
        completion = engine.complete(request, cancel=cancel, on_token=on_token)
        offer = None
        if completion.text and completion.stop_reason != "cancelled":
            offer = offer_for(server, snap, completion, completion_id)
        return completion, CompletionEntry(snap.uri, snap.version, snap.offset, completion, offer)

    return run


def offer_for(
    server: CaveatServer, snap: Snapshot, completion: Completion, cid: str | None = None
) -> Any:
    """Score the completion as if inserted, as an offer waiting for acceptance (id `cid`)."""
    cid = completion.id if cid is None else cid
    thresholds = server.thresholds
    if thresholds is None:
        return None
    text = snap.text[: snap.offset] + completion.text + snap.text[snap.offset :]
    region = annotate(
        cid,
        text,
        snap.offset,
        completion.records,
        snap.language,
        thresholds,
        len(completion.text),
        generated=True,
    )
    return offer_from_region(region, completion.text)


def _settings_key(server: CaveatServer) -> Hashable:
    """What a completion's text depends on besides the document: model and decoding settings."""
    # When and whether to complete do not change what the model says.
    what = dataclasses.replace(server.settings.completion, debounce_ms=0, typed_ahead_cache=True)
    return (server.model_name, server.settings.model, what, server.settings.context)


def _typed_ahead(
    server: CaveatServer, snap: Snapshot, cid: str, partial_token: types.ProgressToken | None
) -> Outcome | None:
    """The rest of the last completion shown, if the user typed its beginning; else None."""
    started = time.perf_counter()
    if not server.settings.completion.typed_ahead_cache:
        return None
    shown = server.shown.get(snap.uri)
    key = _settings_key(server)
    if shown is None or shown.key != key:
        return None
    completion = continuation(shown, snap.text, snap.offset, cid)
    if completion is None:
        return None
    # This request supersedes older ones for the document, as a new model job would.
    server.worker.cancel(snap.uri)
    offer = offer_for(server, snap, completion, cid)
    timings = Timings(total_ms=(time.perf_counter() - started) * 1000)
    completion = dataclasses.replace(completion, timings=timings)
    typed = len(shown.completion.text) - len(completion.text)
    logger.debug("%s: typed ahead %d chars of %s; no model run", cid, typed, shown.completion_id)
    entry = CompletionEntry(snap.uri, snap.version, snap.offset, completion, offer)
    streamer = Streamer(server, partial_token, cid) if partial_token is not None else None
    return _publish(server, snap, cid, entry, streamer, key)


def _publish(
    server: CaveatServer,
    snap: Snapshot,
    cid: str,
    entry: CompletionEntry,
    streamer: Streamer | None,
    key: Hashable,
) -> Outcome:
    """Hand out a finished completion: acceptance, provenance, stream end, typed-ahead memory."""
    outcome = publish_candidate(server, snap, cid, entry)
    if streamer is not None:
        streamer.finish(entry.completion)
    server.shown.remember(snap.uri, Shown(cid, snap.text, snap.offset, entry.completion, key))
    return outcome


def publish_candidate(
    server: CaveatServer, snap: Snapshot, cid: str, entry: CompletionEntry
) -> Outcome:
    """Make a completion acceptable (its offer tracked) and give its outcome; no streaming."""
    server.remember(cid, entry)
    if entry.offer is not None:
        server.provenance(snap.uri).add_offer(entry.offer)
    tokens = [_token(r, entry.completion.text, server) for r in entry.completion.records]
    return Outcome(cid, snap, entry.completion, tokens)


async def complete_at(
    server: CaveatServer,
    uri: str,
    position: types.Position,
    *,
    debounce: bool,
    partial_token: types.ProgressToken | None = None,
) -> Outcome:
    """Complete at `position`; newer requests and edits for the same document win.

    When the user typed the beginning of the completion shown last, its rest answers at once.
    """
    generation = server.bump_generation(uri)
    snap = snapshot(server, uri, position)
    cid = server.next_completion_id()
    cached = _typed_ahead(server, snap, cid, partial_token)
    if cached is not None:
        return cached
    delay = server.settings.completion.debounce_ms / 1000 if debounce else 0.0
    if delay > 0:
        await asyncio.sleep(delay)
        current = server.workspace.text_documents.get(uri)
        stale = current is None or current.version != snap.version
        if stale or server.generations.get(uri) != generation:
            return Outcome(cid, snap)
    key = _settings_key(server)  # with the settings the job reads: they may change meanwhile
    model_name = server.model_name  # the status below must not credit a newer model
    streamer = Streamer(server, partial_token, cid) if partial_token is not None else None
    # Candidates still being completed for the old text only delay this one.
    server.worker.cancel(uri, kinds=("candidates",))
    job = Job(
        _run_job(server, snap, cid, streamer.on_token if streamer else None),
        key=uri,
        kind="complete",
    )
    server.worker.submit(job)
    try:
        completion, entry = await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancel.set()  # $/cancelRequest: the decode loop sees this within one token
        raise
    except JobCancelled:
        return Outcome(cid, snap)
    except ModelUnavailable as exc:
        raise JsonRpcException(f"caveat: no model: {exc}", REQUEST_FAILED) from exc
    except ModelError as exc:  # the serving engine is down, slow or refused: no completion
        server.show_engine_error(exc)
        return Outcome(cid, snap)
    server.last_engine_error = ""
    current = server.workspace.text_documents.get(uri)
    if completion.stop_reason == "cancelled" or current is None or current.version != snap.version:
        return Outcome(cid, snap)  # superseded or stale: drop the result
    # The engine cannot see the queue: the worker's wait goes into the timings here.
    completion = dataclasses.replace(
        completion, timings=dataclasses.replace(completion.timings, queue_ms=job.queue_ms)
    )
    entry = dataclasses.replace(entry, completion=completion)
    outcome = _publish(server, snap, cid, entry, streamer, key)
    timings = completion.timings
    if server.model_name == model_name:
        server.send_status(
            "ready",
            lastLatencyMs=round(timings.total_ms, 1),
            tokensPerSecond=round(timings.tokens_per_second, 1),
        )
    return outcome


def accept_command(cid: str) -> types.Command:
    """The `caveat.accept` command that reports an inserted completion."""
    return types.Command(title="Accept", command="caveat.accept", arguments=[{"completionId": cid}])
