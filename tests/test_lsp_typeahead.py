"""Typed-ahead answers over stdio with the real model: typing the ghost text shows its rest.

Whether the model ran is read from what only a model run produces: every completion the model
decodes is followed by a `caveat/status` with its latency, sent before the answer, and has a
prefill time. One test goes further and keeps the one model thread busy with a scan: the
typed-ahead answer still arrives, so it cannot have waited for the model.
"""

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
    complete,
    end_position,
    initialize_vscode,
    make_client,
    open_doc,
)
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVER = [sys.executable, "-m", "caveat", "serve"]
COMPLETION = {"debounceMs": 0, "maxTokens": 12, "temperature": 0.0}
INIT_OPTIONS = {"model": {"threads": 1}, "completion": COMPLETION}

PROMPT = "def add(a, b):\n    return "
# Scanning costs a full-vocabulary pass per token: this keeps the model thread busy for seconds.
BUSY_TEXT = (
    "import os\n\n\ndef list_python_files(folder):\n"
    '    """Every Python file directly in folder, sorted."""\n'
    "    names = [f for f in os.listdir(folder) if f.endswith('.py')]\n"
    "    return sorted(os.path.join(folder, name) for name in names)\n"
)


@pytest_lsp.fixture(
    scope="session",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A VS Code-like client with the model loaded; greedy, short completions."""
    await initialize_vscode(lsp_client, INIT_OPTIONS)
    await Recorder.of(lsp_client).wait_ready()
    yield
    await lsp_client.shutdown_session()


def model_runs(client: LanguageClient) -> int:
    """How many completions the model has decoded (each sends a status with its latency)."""
    return sum("lastLatencyMs" in s for s in Recorder.of(client).statuses)


def head_of(text: str) -> int:
    """How many chars of a completion to type: a few, leaving more than whitespace to show."""
    typed = min(3, len(text) - 1)
    while typed > 1 and not text[typed:].strip():
        typed -= 1
    assert typed >= 1 and text[typed:].strip(), f"completion too short to type into: {text!r}"
    return typed


async def type_at_end(client: LanguageClient, uri: str, doc: str, version: int, typed: str) -> str:
    """Type `typed` at the end of the document; return the new text."""
    end = end_position(doc)
    await Recorder.of(client).change(uri, version, types.Range(start=end, end=end), typed)
    return doc + typed


def utf16_units(text: str) -> int:
    """Length of `text` in UTF-16 code units (the unit of token offsets)."""
    return len(text.encode("utf-16-le")) // 2


async def set_completion(client: LanguageClient, **values: Any) -> None:
    """Change completion settings through workspace/configuration, as VS Code does."""
    client.set_configuration({"completion": {**COMPLETION, **values}}, section="caveat")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.2)  # the server pulls the section back from us


async def test_typing_the_ghost_text_answers_with_its_rest_without_the_model(
    client: LanguageClient,
) -> None:
    """The rest of the completion, its tokens after the typed part, streamed, acceptable."""
    uri = await open_doc(client, f"ahead{time.time_ns()}", PROMPT)
    first = await complete(client, uri, end_position(PROMPT))
    typed = head_of(first["text"])
    doc = await type_at_end(client, uri, PROMPT, 2, first["text"][:typed])
    runs = model_runs(client)
    token = f"ahead-{time.time_ns()}"
    second = await complete(client, uri, end_position(doc), token)

    assert second["text"] == first["text"][typed:]
    assert second["id"] != first["id"] and second["version"] == 2
    assert model_runs(client) == runs
    assert second["timings"]["prefillMs"] == 0 and second["timings"]["tokensPerSecond"] == 0
    assert second["stopReason"] == first["stopReason"]
    # The old tokens that lie wholly after the typed part, offsets from the rest's start.
    shift = utf16_units(first["text"][:typed])
    expected = [
        {**t, "offset": t["offset"] - shift} for t in first["tokens"] if t["offset"] >= shift
    ]
    assert second["tokens"] == expected and expected
    # Streamed like any answer: the chunks add up to the text and the tokens.
    chunks = [c for _, c in Recorder.of(client).partials[token]]
    assert "".join(c["text"] for c in chunks) == second["text"]
    assert [t for c in chunks for t in c["tokens"]] == second["tokens"]

    # Typing on keeps answering from the same completion.
    more = head_of(second["text"])
    doc = await type_at_end(client, uri, doc, 3, second["text"][:more])
    third = await complete(client, uri, end_position(doc))
    assert third["text"] == first["text"][typed + more :] and model_runs(client) == runs

    # The answer is a completion of its own: inserting it and accepting it records it.
    end = end_position(doc)
    await Recorder.of(client).change(uri, 4, types.Range(start=end, end=end), third["text"])
    reply = await accept(client, third["id"])
    assert reply["recorded"] is True


async def test_typing_something_else_runs_the_model(client: LanguageClient) -> None:
    """A key that differs from the ghost text gets a fresh model completion."""
    uri = await open_doc(client, f"other{time.time_ns()}", PROMPT)
    first = await complete(client, uri, end_position(PROMPT))
    assert first["text"]
    other = "z" if not first["text"].startswith("z") else "q"
    doc = await type_at_end(client, uri, PROMPT, 2, other)
    runs = model_runs(client)
    second = await complete(client, uri, end_position(doc))
    assert model_runs(client) == runs + 1
    assert second["timings"]["prefillMs"] > 0


async def test_with_the_setting_off_the_model_runs(client: LanguageClient) -> None:
    """completion.typedAheadCache false: typing the ghost text asks the model again."""
    await set_completion(client, typedAheadCache=False)
    try:
        uri = await open_doc(client, f"off{time.time_ns()}", PROMPT)
        first = await complete(client, uri, end_position(PROMPT))
        typed = head_of(first["text"])
        doc = await type_at_end(client, uri, PROMPT, 2, first["text"][:typed])
        runs = model_runs(client)
        second = await complete(client, uri, end_position(doc))
        assert model_runs(client) == runs + 1
        assert second["timings"]["prefillMs"] > 0
    finally:
        await set_completion(client, typedAheadCache=True)


@pytest.mark.parametrize("method", ["inline", "completion"])
async def test_inline_and_fallback_completion_answer_from_the_ghost_text(
    client: LanguageClient, method: str
) -> None:
    """The editor requests get the rest too, with an accept command of their own."""
    uri = await open_doc(client, f"{method}{time.time_ns()}", PROMPT)

    async def ask(doc: str) -> tuple[str, types.Command | None]:
        ident = types.TextDocumentIdentifier(uri=uri)
        if method == "inline":
            context = types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            )
            params = types.InlineCompletionParams(
                context=context, text_document=ident, position=end_position(doc)
            )
            found = await asyncio.wait_for(
                client.text_document_inline_completion_async(params), WAIT
            )
            assert isinstance(found, types.InlineCompletionList) and len(found.items) == 1
            item = found.items[0]
            assert isinstance(item.insert_text, str)
            return item.insert_text, item.command
        plain = types.CompletionParams(text_document=ident, position=end_position(doc))
        result = await asyncio.wait_for(client.text_document_completion_async(plain), WAIT)
        assert isinstance(result, types.CompletionList) and len(result.items) == 1
        return result.items[0].insert_text or "", result.items[0].command

    first, first_command = await ask(PROMPT)
    typed = head_of(first)
    doc = await type_at_end(client, uri, PROMPT, 2, first[:typed])
    runs = model_runs(client)
    rest, command = await ask(doc)
    assert rest == first[typed:] and model_runs(client) == runs
    assert command is not None and first_command is not None and command.arguments
    assert command.arguments != first_command.arguments


async def test_answer_arrives_while_the_model_thread_is_busy(client: LanguageClient) -> None:
    """With the one model thread scanning a document, the typed-ahead answer still comes."""
    uri = await open_doc(client, f"busy{time.time_ns()}", PROMPT)
    first = await complete(client, uri, end_position(PROMPT))
    typed = head_of(first["text"])
    doc = await type_at_end(client, uri, PROMPT, 2, first["text"][:typed])

    busy = await open_doc(client, f"scan{time.time_ns()}", BUSY_TEXT)
    before = set(client.progress_reports)
    scan = asyncio.ensure_future(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="caveat.scanDocument", arguments=[busy])
        )
    )
    # The scan job is queued in the same step that sends its progress begin.
    deadline = time.monotonic() + WAIT
    while not set(client.progress_reports) - before:
        assert time.monotonic() < deadline, "the scan never started"
        await asyncio.sleep(0.005)
    second = await complete(client, uri, end_position(doc))
    assert not scan.done(), "the scan ended first: the check proves nothing"
    assert second["text"] == first["text"][typed:]
    assert "cancelled" not in await asyncio.wait_for(scan, WAIT)
