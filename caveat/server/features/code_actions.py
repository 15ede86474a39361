"""`textDocument/codeAction` on a flagged span: one quick fix per alternative, in list order.

The same list the hover shows and the diagnostic message quotes (`caveat.server.choices`);
a span with no valid alternative gets no quick fix.
"""

from __future__ import annotations

from lsprotocol import types

from caveat.annotate.words import percent
from caveat.server.choices import ensure_choices
from caveat.server.positions import PositionMap
from caveat.server.server import CaveatServer


def _span_id(diagnostic: types.Diagnostic) -> str | None:
    """The caveat span id a diagnostic carries, if it is one of ours."""
    data = diagnostic.data
    if diagnostic.source != "caveat" or not isinstance(data, dict):
        return None
    span_id = data.get("spanId")
    return span_id if isinstance(span_id, str) else None


def register(server: CaveatServer) -> None:
    """Register code actions (quick fixes only)."""

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    async def code_action(
        ls: CaveatServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        doc = ls.document(uri)
        prov = ls.documents.get(uri)
        only = params.context.only
        if prov is None or (only and types.CodeActionKind.QuickFix not in only):
            return None
        positions = PositionMap.of(doc)
        start = positions.offset(params.range.start)
        end = positions.offset(params.range.end)
        version = doc.version
        actions: list[types.CodeAction] = []
        for tracked in prov.spans_at(start, end):
            span = await ensure_choices(ls, doc, tracked)
            if doc.version != version:
                return None  # the text moved while computing: these edits would be stale
            related = [d for d in params.context.diagnostics if _span_id(d) == span.id]
            for choice in span.choices or ():
                edit = types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=[
                        types.TextEdit(
                            range=positions.range(choice.start, choice.end), new_text=choice.text
                        )
                    ],
                )
                shown = choice.text.replace("\n", "⏎")
                actions.append(
                    types.CodeAction(
                        title=f"Replace with '{shown}' (caveat, {percent(choice.probability)})",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=related or None,
                        edit=types.WorkspaceEdit(document_changes=[edit]),
                        data={"completionId": span.completion_id, "spanId": span.id},
                    )
                )
        return actions or None
