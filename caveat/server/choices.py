"""A tracked span's alternatives, computed once on the model worker and kept in the provenance.

Hover and code actions ask for them; when they arrive the diagnostics are republished, so the
diagnostic message, the hover list and the quick fixes show one list in one order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

from pygls.workspace import TextDocument

from caveat.annotate.alternatives import span_choices
from caveat.annotate.provenance import Choice, TrackedSpan
from caveat.engine.backend import Backend
from caveat.server.features.diagnostics import publish
from caveat.server.positions import well_formed
from caveat.server.server import CaveatServer
from caveat.server.worker import Job

logger = logging.getLogger(__name__)

#: Seconds a request waits for the alternatives before answering without them.
CHOICES_WAIT = 5.0


async def ensure_choices(server: CaveatServer, doc: TextDocument, span: TrackedSpan) -> TrackedSpan:
    """The span with its alternatives (computed on first request, then kept).

    When the model is not ready or computing fails, the span comes back unchanged (`choices`
    None) and the next request tries again. When computing takes longer than CHOICES_WAIT the
    request answers without them, and the job goes on: its result is kept (and the diagnostics
    republished) when it arrives, if the document has not changed meanwhile.
    """
    if span.choices is not None or server.worker.state != "ready":
        return span
    text, version, language = well_formed(doc.source), doc.version, doc.language_id

    def run(engine: Backend, cancel: threading.Event) -> tuple[Choice, ...]:
        return span_choices(engine, text, span, language, cancel)

    # No supersession: a hover and a code action may ask for two spans of one document at once.
    job = server.worker.submit(Job(run, key=doc.uri, kind="rerank"), supersede=False)
    future = asyncio.wrap_future(job.future)
    try:
        await asyncio.wait_for(asyncio.shield(future), CHOICES_WAIT)
    except asyncio.CancelledError:
        job.cancel.set()
        # The shielded future still settles (JobCancelled): read it so asyncio does not log
        # "Future exception was never retrieved" with a traceback in the editor's log.
        future.add_done_callback(_settled)
        raise
    except asyncio.TimeoutError:
        logger.info(
            "alternatives for %s take longer than %.0f s; kept when done", span.id, CHOICES_WAIT
        )
        future.add_done_callback(lambda done: _keep(server, doc.uri, version, span, done))
        return span
    except Exception as exc:  # failed: the request answers without alternatives
        logger.info("alternatives for %s unavailable (%s)", span.id, exc)
        return span
    return _keep(server, doc.uri, version, span, future)


def _settled(done: asyncio.Future[tuple[Choice, ...]]) -> None:
    """Mark a future nobody awaits any more as read."""
    if not done.cancelled():
        done.exception()


def _keep(
    server: CaveatServer,
    uri: str,
    version: int | None,
    span: TrackedSpan,
    done: asyncio.Future[tuple[Choice, ...]],
) -> TrackedSpan:
    """Store computed alternatives in the provenance (same document version) and republish."""
    if done.cancelled() or done.exception() is not None:
        return span
    updated = dataclasses.replace(span, choices=done.result())
    prov = server.documents.get(uri)
    current = server.workspace.text_documents.get(uri)
    fresh = current is not None and current.version == version
    if prov is not None and fresh and prov.replace_span(updated):
        publish(server, uri)
    return updated
