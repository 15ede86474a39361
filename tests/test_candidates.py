"""Several candidates per request through the real server: distinct, ordered, each acceptable."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_lsp
from lsp.support import (
    WAIT,
    Recorder,
    accept,
    end_position,
    initialize_vscode,
    make_client,
    open_doc,
    plain,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = [sys.executable, "-m", "caveat", "serve"]
# The embedded model is unsure how this body starts (`if` at about 38%).
PROMPT = "def fibonacci(n):\n    "


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    await initialize_vscode(lsp_client, {"completion": {"maxTokens": 12, "debounceMs": 0}})
    await Recorder.of(lsp_client).wait_ready()
    yield
    await lsp_client.shutdown_session()


async def _complete(client: LanguageClient, uri: str, text: str, **extra: Any) -> dict[str, Any]:
    pos = end_position(text)
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": pos.line, "character": pos.character},
        **extra,
    }
    result = await asyncio.wait_for(
        client.protocol.send_request_async("caveat/complete", params), WAIT
    )
    out: dict[str, Any] = plain(result)
    return out


async def test_candidates_are_distinct_ordered_and_acceptable(client: LanguageClient) -> None:
    uri = await open_doc(client, f"fib{time.time_ns()}", PROMPT)
    result = await _complete(client, uri, PROMPT, n=3)
    cands = result["candidates"]
    assert len(cands) >= 2, cands
    assert result["id"] in [c["id"] for c in cands]
    assert len({c["text"] for c in cands}) == len(cands)
    assert len({c["id"] for c in cands}) == len(cands)
    scores = [c["confidence"] for c in cands]
    assert scores == sorted(scores, reverse=True)
    for c in cands:
        assert "".join(t["text"] for t in c["tokens"]) == c["text"]
    # The editor inserts another candidate than the first one streamed, then reports it.
    other = next(c for c in cands if c["id"] != result["id"])
    pos = end_position(PROMPT)
    await Recorder.of(client).change(uri, 2, types.Range(start=pos, end=pos), other["text"])
    reply = await accept(client, other["id"])
    assert reply["recorded"] is True


async def test_one_candidate_by_default_and_n_is_checked(client: LanguageClient) -> None:
    uri = await open_doc(client, f"fib{time.time_ns()}", PROMPT)
    result = await _complete(client, uri, PROMPT)
    assert result["text"] and result["candidates"] == []
    with pytest.raises(JsonRpcException):
        await _complete(client, uri, PROMPT, n=99)


async def test_an_explicit_inline_request_offers_several(client: LanguageClient) -> None:
    uri = await open_doc(client, f"fib{time.time_ns()}", PROMPT)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=end_position(PROMPT),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )
    result = await asyncio.wait_for(client.text_document_inline_completion_async(params), WAIT)
    assert result is not None
    items = result.items if isinstance(result, types.InlineCompletionList) else result
    assert len(items) >= 2
    texts = [str(i.insert_text) for i in items]
    assert len(set(texts)) == len(texts)
    assert all(i.command is not None and i.command.command == "caveat.accept" for i in items)


async def test_a_sure_start_branches_later(client: LanguageClient) -> None:
    """Where the model is sure how the body starts (a docstring), candidates share that start."""
    prompt = (
        'import os\n\n\ndef load_settings(path):\n    """Read a JSON settings file."""\n'
        "    return {}\n\n\ndef fibonacci(n):\n    "
    )
    uri = await open_doc(client, f"sure{time.time_ns()}", prompt)
    result = await _complete(client, uri, prompt, n=3)
    texts = [c["text"] for c in result["candidates"]]
    assert len(texts) >= 2, result["text"]
    assert all(t.startswith('"""') for t in texts), texts
    for c in result["candidates"]:
        assert "".join(t["text"] for t in c["tokens"]) == c["text"]
