"""`textDocument/hover` on a flagged span: how sure the model was, and what else it considered.

The first hover over a span reranks its alternatives on the worker (AdaDec-style rollouts to
the end of the syntax unit, `caveat.engine.rerank`); the result replaces the span's raw top-k
choices in the provenance, so later hovers and the code actions reuse it. If reranking fails
or takes too long, the raw top-k of the most uncertain token is shown instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

from lsprotocol import types
from pygls.workspace import TextDocument

from caveat.engine import Engine
from caveat.engine.rerank import HOVER_LOOKAHEAD, RankedAlternative, bracket_depth, rerank
from caveat.server.positions import PositionMap, percent, well_formed
from caveat.server.provenance import Choice, TrackedSpan
from caveat.server.server import CaveatServer
from caveat.server.worker import Job

logger = logging.getLogger(__name__)

#: Seconds a hover waits for reranking before answering with the raw alternatives.
RERANK_WAIT = 5.0


def _code(text: str) -> str:
    """Inline markdown code that survives backticks and newlines in `text`."""
    shown = text.replace("\n", "⏎")
    fence = "``" if "`" in shown else "`"
    return f"{fence}{shown}{fence}" if shown.strip() else f"{fence}␣{fence}"


def hover_markdown(span: TrackedSpan) -> str:
    """The hover text: score in words, then the alternatives with their probabilities."""
    lines = [
        f"The model gave this **{percent(span.probability)}** "
        f"({span.level}, {span.kind.replace('_', ' ')}: {_code(span.chosen)}).",
    ]
    if span.choices:
        how = "each completed to the end of the unit" if span.reranked else "least sure token"
        lines += ["", f"It also considered ({how}):", ""]
        lines += [
            f"{i}. {_code(c.text)} — {percent(c.probability)}"
            for i, c in enumerate(span.choices, 1)
        ]
    else:
        lines += ["", "It had no clear alternative."]
    return "\n".join(lines)


def _choices(text: str, span: TrackedSpan, ranked: list[RankedAlternative]) -> tuple[Choice, ...]:
    """Whole-span replacements: the span's text before its worst token, then the rollout."""
    head = text[span.start : span.token_start]
    out = []
    for alt in ranked:
        replacement = (head + alt.text).rstrip()
        # A rollout that ran into the next line is not a replacement for a one-line span.
        if "\n" in replacement and "\n" not in span.chosen:
            continue
        if replacement.strip() and replacement != span.chosen:
            out.append(Choice(replacement, alt.probability, span.start, span.end))
    return tuple(out)


async def reranked(server: CaveatServer, doc: TextDocument, span: TrackedSpan) -> TrackedSpan:
    """The span with reranked choices (computed once, then kept in the provenance)."""
    if span.reranked or span.token_start < 0 or server.worker.state != "ready":
        return span
    text, version, language = well_formed(doc.source), doc.version, doc.language_id

    def run(engine: Engine, cancel: threading.Event) -> list[RankedAlternative]:
        return rerank(
            engine,
            text[: span.token_start],
            span_end_text=text[span.end :],
            cancel=cancel,
            language=language,
            lookahead=HOVER_LOOKAHEAD,
            depth0=bracket_depth(text[span.start : span.token_start]),
            inner=text[span.token_end : span.end],
        )

    job = server.worker.submit(Job(run, key=doc.uri, kind="rerank"))
    try:
        ranked = await asyncio.wait_for(asyncio.wrap_future(job.future), RERANK_WAIT)
    except asyncio.CancelledError:
        job.cancel.set()
        raise
    except Exception as exc:  # a slow or failed rerank must not cost the user the hover
        job.cancel.set()
        logger.info("rerank for %s unavailable (%s); showing raw alternatives", span.id, exc)
        return span
    choices = _choices(text, span, ranked)
    updated = dataclasses.replace(span, choices=choices or span.choices, reranked=True)
    prov = server.documents.get(doc.uri)
    current = server.workspace.text_documents.get(doc.uri)
    if prov is not None and current is not None and current.version == version:
        prov.replace_span(updated)
    return updated


def register(server: CaveatServer) -> None:
    """Register hover."""

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: CaveatServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        doc = ls.document(uri)
        prov = ls.documents.get(uri)
        if prov is None:
            return None
        positions = PositionMap.of(doc)
        spans = prov.spans_at(positions.offset(params.position))
        if not spans:
            return None
        version = doc.version
        span = await reranked(ls, doc, spans[0])
        if doc.version != version:
            return None  # the text moved while reranking: this hover is stale
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=hover_markdown(span)
            ),
            range=positions.range(span.start, span.end),
        )
