"""The real server as Neovim drives it: UTF-8 position encoding, completion items, settings pull."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_lsp
from lsp.support import WAIT, Recorder, make_client
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVER = [sys.executable, "-m", "caveat", "serve"]
PROMPT = 'title = "货物 📦"\nfor word in title.split():\n    print('


def utf8_position(text: str, offset: int) -> types.Position:
    """The LSP position of code-point `offset` with UTF-8 byte columns."""
    before = text[:offset]
    column = before[before.rfind("\n") + 1 :]
    return types.Position(line=before.count("\n"), character=len(column.encode("utf-8")))


@pytest_lsp.fixture(
    scope="session",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def nvim(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A Neovim-like client; settings come from workspace/configuration, not init options."""
    lsp_client.set_configuration(
        {"model": {"threads": 1}, "completion": {"debounceMs": 0, "maxTokens": 16}},
        section="caveat",
    )
    result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim"))
    )
    recorder = Recorder.of(lsp_client)
    recorder.init_result = result
    assert (await recorder.wait_ready())["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_neovim_gets_utf8_positions_end_to_end(nvim: LanguageClient) -> None:
    """Completion item at a UTF-8 cursor; accepted tokens come back in UTF-8 columns."""
    client = nvim
    caps = Recorder.of(client).init_result.capabilities
    assert caps.position_encoding == types.PositionEncodingKind.Utf8
    uri = "file:///caveat-tests/nvim.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=PROMPT
            )
        )
    )
    cursor = utf8_position(PROMPT, len(PROMPT))
    listing = await asyncio.wait_for(
        client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=cursor
            )
        ),
        WAIT,
    )
    assert isinstance(listing, types.CompletionList) and len(listing.items) == 1
    item = listing.items[0]
    assert item.insert_text and item.command and item.command.command == "caveat.accept"
    # Neovim inserts the text; the server recognises the insertion without the command.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=cursor, end=cursor), text=item.insert_text
                )
            ],
        )
    )
    await Recorder.of(client).barrier(uri)
    doc = PROMPT + item.insert_text
    tokens = Recorder.of(client).confidence[uri][-1]["tokens"]
    assert tokens, "the recognised insertion sent no token confidences"
    assert tokens[0]["range"]["start"] == {
        "line": cursor.line,
        "character": cursor.character,
    }
    last = tokens[-1]["range"]["end"]
    end = utf8_position(doc, len(doc))
    assert last == {"line": end.line, "character": end.character}
    for diag in client.diagnostics.get(uri, []):
        assert diag.range.start.line == cursor.line or diag.range.start.line > cursor.line
