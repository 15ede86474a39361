"""The language server on a llama-server: completions over the wire, and a server that goes away.

A server that stops mid-session costs one error message (not one per keystroke); completions
come back empty meanwhile, the language server stays up, and it recovers when the engine does.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_lsp
from lsp.support import WAIT, Recorder, complete, end_position, initialize_vscode, make_client
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from remote_server import llama_server

from caveat.engine.remote.process import LlamaServer, free_port

# The first test builds llama-server when the machine has none yet (minutes, once).
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(1800)]

SERVER = [sys.executable, "-m", "caveat", "serve"]
PORT = free_port()


@pytest.fixture(scope="module")
def engine_server() -> Iterator[list[LlamaServer]]:
    """The llama-server, in a list so a test can stop it and put a new one in its place."""
    with llama_server(port=PORT) as srv:
        box = [srv]
        yield box
        box[0].close()


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def client(
    lsp_client: LanguageClient, engine_server: list[LlamaServer]
) -> AsyncIterator[LanguageClient]:
    options = {"model": {"server": f"http://127.0.0.1:{PORT}"}}
    await initialize_vscode(lsp_client, options)
    status = await Recorder.of(lsp_client).wait_ready(timeout=WAIT)
    assert status["state"] == "ready", status
    yield lsp_client
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, uri: str, text: str) -> None:
    item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))


def _errors(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_completes_through_the_server(client: LanguageClient) -> None:
    text = "def add(a, b):\n    return "
    uri = "file:///caveat-tests/remote_add.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    result = await complete(client, uri, end_position(text))
    assert result["text"].startswith("a + b"), result["text"]
    status = Recorder.of(client).statuses[-1]
    assert status.get("device") == "server" and str(PORT) in status["model"]


async def test_engine_down_is_one_message_and_recovers(
    client: LanguageClient, engine_server: list[LlamaServer]
) -> None:
    text = "values = [1, 2, 3]\ntotal = "
    uri = "file:///caveat-tests/remote_down.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    engine_server[0].close()
    before = len(_errors(client))
    for _ in range(3):
        result = await complete(client, uri, end_position(text))
        assert result.get("text", "") == ""
    errors = _errors(client)[before:]
    assert len(errors) == 1 and "cannot reach" in errors[0], errors
    engine_server[0] = LlamaServer(
        engine_server[0].binary, engine_server[0].model, threads=2, n_ctx=2048, port=PORT
    )
    engine_server[0].start()
    result = await complete(client, uri, end_position(text))
    assert result["text"], result
    assert len(_errors(client)) == before + 1
