"""Faults the server must survive: a model that cannot load, invalid settings."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_lsp
from lsp.support import WAIT, Recorder, initialize_vscode, make_client
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = [sys.executable, "-m", "caveat", "serve"]
MISSING = "/nonexistent/caveat-test-model.gguf"


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def broken(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A server told to load a model file that does not exist, with one bad setting too."""
    options = {"model": {"path": MISSING}, "completion": {"maxTokens": "lots"}}
    await initialize_vscode(lsp_client, options)
    yield
    await lsp_client.shutdown_session()


async def test_load_failure_is_shown_and_requests_get_a_clear_error(broken: LanguageClient) -> None:
    """showMessage error with the loader's text; caveat/status error; requests fail cleanly."""
    client = broken
    status = await Recorder.of(client).wait_ready(timeout=WAIT)
    assert status["state"] == "error" and MISSING in status["message"]
    errors = [m for m in client.messages if m.type == types.MessageType.Error]
    assert errors and MISSING in errors[0].message
    uri = "file:///caveat-tests/broken.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text="x = "
            )
        )
    )
    params = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 4}}
    for _ in range(2):  # and again: the server is still up and still clear about it
        with pytest.raises(JsonRpcException) as info:
            await asyncio.wait_for(
                client.protocol.send_request_async("caveat/complete", params), WAIT
            )
        assert info.value.code == -32803 and MISSING in info.value.message


async def test_invalid_setting_warns_and_keeps_the_default(broken: LanguageClient) -> None:
    """A bad value in initializationOptions is reported by name; the rest still applies."""
    warnings = [m for m in broken.messages if m.type == types.MessageType.Warning]
    assert any("completion.maxTokens" in m.message and "lots" in m.message for m in warnings)
