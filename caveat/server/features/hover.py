"""`textDocument/hover` on a flagged span: how sure the model was, and what else it considered."""

from __future__ import annotations

from lsprotocol import types

from caveat.server.positions import PositionMap
from caveat.server.provenance import TrackedSpan
from caveat.server.server import CaveatServer


def _code(text: str) -> str:
    """Inline markdown code that survives backticks and newlines in `text`."""
    shown = text.replace("\n", "⏎")
    fence = "``" if "`" in shown else "`"
    return f"{fence}{shown}{fence}" if shown.strip() else f"{fence}␣{fence}"


def hover_markdown(span: TrackedSpan) -> str:
    """The hover text: score in words, then the alternatives with their probabilities."""
    lines = [
        f"The model gave this **{span.probability:.0%}** "
        f"({span.level}, {span.kind.replace('_', ' ')}: {_code(span.chosen)}).",
    ]
    if span.choices:
        lines += ["", "It also considered:", ""]
        lines += [
            f"{i}. {_code(c.text)} — {c.probability:.0%}" for i, c in enumerate(span.choices, 1)
        ]
    else:
        lines += ["", "It had no clear alternative."]
    return "\n".join(lines)


def register(server: CaveatServer) -> None:
    """Register hover."""

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: CaveatServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        doc = ls.document(uri)
        prov = ls.documents.get(uri)
        if prov is None:
            return None
        positions = PositionMap.of(doc)
        spans = prov.spans_at(positions.offset(params.position))
        if not spans:
            return None
        span = spans[0]
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=hover_markdown(span)
            ),
            range=positions.range(span.start, span.end),
        )
