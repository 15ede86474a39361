"""`textDocument/inlineCompletion` (ghost text) and the `textDocument/completion` fallback.

Both answer with items carrying the `caveat.accept` command, so acceptance can be tracked:
`completion.candidates` of them, ordered by the model's confidence, and at least 3 when the
user asked explicitly (editors cycle through them).
"""

from __future__ import annotations

from lsprotocol import types

from caveat.server.candidates import with_candidates
from caveat.server.completing import accept_command, complete_at
from caveat.server.server import CaveatServer

#: Candidates an explicit request (the user asked for a suggestion) gets at least.
EXPLICIT = 3


def register(server: CaveatServer) -> None:
    """Register inline completion (with options, so pygls advertises it) and completion."""

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CaveatServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
        outcome = await complete_at(
            ls, params.text_document.uri, params.position, debounce=automatic
        )
        if outcome.cancelled or not outcome.text:
            return types.InlineCompletionList(items=[])
        n = ls.settings.completion.candidates
        outcomes = await with_candidates(ls, outcome, n if automatic else max(n, EXPLICIT))
        items = [
            types.InlineCompletionItem(
                insert_text=o.text,
                range=types.Range(start=params.position, end=params.position),
                command=accept_command(o.id),
            )
            for o in outcomes
            if o.text
        ]
        return types.InlineCompletionList(items=items)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(ls: CaveatServer, params: types.CompletionParams) -> types.CompletionList:
        outcome = await complete_at(ls, params.text_document.uri, params.position, debounce=True)
        if outcome.cancelled or not outcome.text:
            return types.CompletionList(is_incomplete=True, items=[])
        first_line = outcome.text.strip().splitlines()[0] if outcome.text.strip() else outcome.text
        item = types.CompletionItem(
            label=first_line,
            kind=types.CompletionItemKind.Text,
            insert_text=outcome.text,
            insert_text_format=types.InsertTextFormat.PlainText,
            detail="caveat",
            command=accept_command(outcome.id),
        )
        # Incomplete: every keystroke deserves a fresh completion, not client-side filtering.
        return types.CompletionList(is_incomplete=True, items=[item])
