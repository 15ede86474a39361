"""Document sync → provenance, and the diagnostics + `caveat/tokenConfidence` it implies.

Every didChange is replayed onto the document's provenance (its own copy of the text, so each
change's range is read against the text it was made on), which moves, drops or records spans;
whenever they change the server republishes. Uncertain spans become diagnostics with source
`caveat`, code `uncertain`, and `data` naming the completion and span.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import PositionCodec

from caveat.annotate.provenance import DocumentProvenance, TrackedSpan
from caveat.annotate.words import diagnostic_message
from caveat.scoring.types import level_rank
from caveat.server.positions import PositionMap
from caveat.server.server import CaveatServer

logger = logging.getLogger(__name__)

SEVERITY = {
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def diagnostic(span: TrackedSpan, positions: PositionMap) -> types.Diagnostic:
    """The LSP diagnostic of one tracked span."""
    return types.Diagnostic(
        range=positions.range(span.start, span.end),
        message=diagnostic_message(span),
        severity=SEVERITY[span.level or "hint"],
        code="uncertain",
        source="caveat",
        data={"completionId": span.completion_id, "spanId": span.id},
    )


def publish(server: CaveatServer, uri: str) -> None:
    """Send the current diagnostics and token confidences of one document."""
    doc = server.workspace.text_documents.get(uri)
    prov = server.documents.get(uri)
    positions = PositionMap.of(doc) if doc is not None else None
    settings = server.settings.diagnostics
    diagnostics: list[types.Diagnostic] = []
    if prov is not None and positions is not None and settings.enabled:
        floor = level_rank(settings.min_level)
        diagnostics = [
            diagnostic(s, positions) for s in prov.spans() if level_rank(s.level) >= floor
        ]
    version = doc.version if doc is not None else None
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
    )
    if not settings.token_confidence:
        return
    tokens = []
    if prov is not None and positions is not None:
        tokens = [
            {
                "range": server.protocol._converter.unstructure(positions.range(t.start, t.end)),
                "logprob": t.logprob,
                "entropy": t.entropy,
                "level": t.level,
            }
            for t in prov.tokens()
        ]
    server.protocol.notify(
        "caveat/tokenConfidence", {"uri": uri, "version": version, "tokens": tokens}
    )


def _edit_of(
    old: str, change: types.TextDocumentContentChangeEvent, codec: PositionCodec
) -> tuple[int, int, str]:
    """The (start, end, new text) character edit a content change makes to `old`."""
    if isinstance(change, types.TextDocumentContentChangePartial):
        positions = PositionMap(old, codec)
        return positions.offset(change.range.start), positions.offset(change.range.end), change.text
    # A whole-document change: the edit is what lies between common prefix and suffix.
    new = change.text
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    tail = 0
    while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return start, len(old) - tail, new[start : len(new) - tail]


def replay(
    prov: DocumentProvenance,
    codec: PositionCodec,
    changes: Sequence[types.TextDocumentContentChangeEvent],
) -> bool:
    """Apply each content change to the provenance, in order; True if spans changed."""
    changed = False
    for change in changes:
        changed |= prov.apply_edit(*_edit_of(prov.text, change, codec))
    return changed


def register(server: CaveatServer) -> None:
    """Register didOpen/didChange/didClose."""

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CaveatServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.documents[params.text_document.uri] = DocumentProvenance(params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CaveatServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        # A completion for the old text would be dropped anyway: free the worker now.
        ls.worker.cancel(uri)
        prov = ls.documents.get(uri)
        if prov is None:
            return
        changed = replay(prov, ls.workspace.position_codec, params.content_changes)
        doc = ls.workspace.text_documents.get(uri)
        if doc is not None and doc.source != prov.text:
            logger.warning("provenance of %s lost step with the document; starting over", uri)
            ls.documents[uri] = DocumentProvenance(doc.source)
            changed = True
        if changed:
            publish(ls, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CaveatServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.worker.cancel(uri, ("complete", "scan"))
        if ls.documents.pop(uri, None) is not None:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
