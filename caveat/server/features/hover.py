"""`textDocument/hover` on a flagged span: how sure the model was, why, and what else it weighed.

The alternatives are the span's one list (`caveat.server.choices`): the first hover computes
them on the worker, later hovers, the code actions and the diagnostic message reuse them.
"""

from __future__ import annotations

from lsprotocol import types

from caveat.annotate.provenance import TrackedSpan
from caveat.annotate.words import kind_words, level_sentence, percent, token_sentence
from caveat.server.choices import ensure_choices
from caveat.server.positions import PositionMap
from caveat.server.server import CaveatServer


def _code(text: str) -> str:
    """Inline markdown code that survives backticks and newlines in `text`."""
    shown = text.replace("\n", "⏎")
    fence = "``" if "`" in shown else "`"
    return f"{fence}{shown}{fence}" if shown.strip() else f"{fence}␣{fence}"


def _capital(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def hover_markdown(span: TrackedSpan) -> str:
    """The hover text: the token's probability, why the level, then the alternatives."""
    lines = [
        f"**caveat** · {kind_words(span.kind)} {_code(span.chosen)}",
        "",
        f"{_capital(token_sentence(span))}.",
        "",
        f"{_capital(level_sentence(span))}.",
    ]
    if span.choices:
        lines += [
            "",
            f"It also considered (each completed to the end of the {kind_words(span.kind)}):",
            "",
        ]
        lines += [
            f"{i}. {_code(c.text)} — {percent(c.probability)}"
            for i, c in enumerate(span.choices, 1)
        ]
    elif span.choices is None:
        lines += ["", "Its alternatives are not available yet (the model is busy or loading)."]
    else:
        lines += ["", "It had no alternative that keeps the code valid."]
    return "\n".join(lines)


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
        span = await ensure_choices(ls, doc, spans[0])
        if doc.version != version:
            return None  # the text moved while computing: this hover is stale
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=hover_markdown(span)
            ),
            range=positions.range(span.start, span.end),
        )
