"""The real server over stdio with the embedded model, as VS Code would drive it.

One server per session (the model loads once). Tests open their own documents (distinct URIs),
find whatever uncertain spans the server reports, and check positions by recomputing them in
UTF-16 from the completion text and the document.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_lsp
from lsp.support import (
    WAIT,
    Recorder,
    accept_completion,
    apply_text_edit,
    char_offset,
    complete,
    end_position,
    hover_at,
    initialize_vscode,
    make_client,
    open_doc,
    send_raw_request,
    set_max_tokens,
    text_in_range,
    utf16_position,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVER = [sys.executable, "-m", "caveat", "serve"]
INIT_OPTIONS = {
    "model": {"threads": 1},  # one thread: kinder to a shared CI box, fast enough here
    # Greedy text is the model's own top choice and is rarely flagged by the calibrated
    # thresholds; sampling (with the engine's fixed seed, so runs repeat) yields the unsure
    # tokens these tests need.
    "completion": {"debounceMs": 0, "maxTokens": 24, "temperature": 1.0},
    "diagnostics": {"minLevel": "hint"},
}

# Lines the tiny model continues with code it is unsure about; the emoji (two UTF-16 units,
# four UTF-8 bytes) and CJK text (one UTF-16 unit, three UTF-8 bytes) sit before the cursor.
# More prompts whose uncertain spans tend to be names with valid alternatives.
FIXABLE_PROMPTS = [
    "def average(values):\n    total = sum(values)\n    return total / ",
    "import json\n\ndef load(path):\n    with open(path) as f:\n        return json.",
]
UNSURE_PROMPTS = [
    'import os\n\nlabel = "📦 货物清单"; path = os.path.',
    'names = ["😀", "世界"]\nfor i, name in enumerate(names): print(i, name, "→", ',
    'emoji = "🐍"; greeting = "你好"\ndef describe(animal):\n    return f"{emoji} ',
]


@pytest_lsp.fixture(
    scope="session",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A VS Code-like client with the model loaded."""
    await initialize_vscode(lsp_client, INIT_OPTIONS)
    await Recorder.of(lsp_client).wait_ready()
    yield
    await lsp_client.shutdown_session()


async def flagged(client: LanguageClient) -> tuple[str, str, dict[str, Any], list[Any]]:
    """The first prompt whose accepted completion has diagnostics (the model decides which)."""
    for index, prompt in enumerate(UNSURE_PROMPTS):
        uri, doc, result = await accept_completion(
            client, f"flagged{index}_{time.time_ns()}", prompt
        )
        diags = client.diagnostics.get(uri, [])
        if diags:
            return uri, doc, result, list(diags)
    pytest.fail("no prompt produced an uncertain span")


async def test_capabilities_advertise_the_features(client: LanguageClient) -> None:
    """Inline completion, hover, code actions and the three commands are advertised."""
    caps = Recorder.of(client).init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.hover_provider and caps.code_action_provider and caps.completion_provider
    assert caps.execute_command_provider is not None
    assert set(caps.execute_command_provider.commands) >= {
        "caveat.accept",
        "caveat.scanDocument",
        "caveat.clear",
    }
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    statuses = Recorder.of(client).statuses
    assert statuses[-1]["state"] == "ready"
    # One model, one name: the status does not rename it when loading ends.
    assert statuses[0]["state"] == "loading"
    assert {s["model"] for s in statuses} == {"Gemma 3 270M (embedded)"}


async def test_inline_completion_returns_text_with_accept_command(client: LanguageClient) -> None:
    """A ghost-text item at the cursor, carrying caveat.accept with its completion id."""
    prompt = "def add(a, b):\n    return "
    uri = await open_doc(client, "inline", prompt)
    pos = end_position(prompt)
    result = await asyncio.wait_for(
        client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=pos,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        ),
        WAIT,
    )
    # An explicit request may carry other candidates after the first; each has its own id.
    assert isinstance(result, types.InlineCompletionList) and 1 <= len(result.items) <= 3
    ids = []
    for item in result.items:
        assert isinstance(item.insert_text, str) and item.insert_text.strip()
        assert item.range == types.Range(start=pos, end=pos)
        assert item.command is not None and item.command.command == "caveat.accept"
        assert item.command.arguments
        ids.append(item.command.arguments[0]["completionId"])
    assert len(set(ids)) == len(ids) and all(ids)


async def test_completion_fallback_returns_one_item(client: LanguageClient) -> None:
    """Clients without inline completion get one plain-text completion item."""
    prompt = "def square(x):\n    return "
    uri = await open_doc(client, "fallback", prompt)
    result = await asyncio.wait_for(
        client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=end_position(prompt)
            )
        ),
        WAIT,
    )
    assert isinstance(result, types.CompletionList) and len(result.items) == 1
    item = result.items[0]
    assert item.kind == types.CompletionItemKind.Text and item.insert_text
    assert item.label == item.insert_text.strip().splitlines()[0]
    assert item.command is not None and item.command.command == "caveat.accept"


async def test_streamed_partials_arrive_first_and_concatenate(client: LanguageClient) -> None:
    """`$/progress` chunks come before the result and add up to its text and tokens."""
    prompt = "def fibonacci(n):\n    "
    uri = await open_doc(client, "stream", prompt)
    recorder = Recorder.of(client)
    token = f"partial-{time.time_ns()}"
    result = await complete(client, uri, end_position(prompt), token)
    received_at = time.perf_counter()
    chunks = recorder.partials[token]
    assert chunks, "no partial result arrived"
    assert all(at < received_at for at, _ in chunks)
    assert "".join(c["text"] for _, c in chunks) == result["text"]
    streamed_tokens = [t for _, c in chunks for t in c["tokens"]]
    assert streamed_tokens == result["tokens"]
    text = result["text"]
    for tok in result["tokens"]:
        # Offsets are UTF-16 units into the completion text.
        units = text.encode("utf-16-le")
        start = units[: tok["offset"] * 2].decode("utf-16-le")
        assert text[len(start) :].startswith(tok["text"].rstrip("\ufffd"))
    assert result["stopReason"] in {"eos", "max_tokens", "stop_string", "scope", "repetition"}
    assert result["timings"]["totalMs"] > 0


async def test_accepted_spans_sit_at_utf16_ranges(client: LanguageClient) -> None:
    """Diagnostics and token confidences land on the right text after emoji and CJK."""
    uri, doc, result, diags = await flagged(client)
    recorder = Recorder.of(client)
    start = len(doc) - len(result["text"])
    for diag in diags:
        assert diag.source == "caveat" and diag.code == "uncertain"
        assert diag.data["completionId"] == result["id"] and diag.data["spanId"]
        under = text_in_range(doc, diag.range)
        assert under.strip(), diag
    # Every token of the completion covers exactly its own text in the document.
    confidence = recorder.confidence[uri][-1]
    assert len(confidence["tokens"]) == len(result["tokens"])
    for sent, tok in zip(confidence["tokens"], result["tokens"], strict=True):
        rng = types.Range(
            start=types.Position(**sent["range"]["start"]),
            end=types.Position(**sent["range"]["end"]),
        )
        assert rng.start == utf16_position(doc, start + char_offset(result["text"], tok["offset"]))
        assert text_in_range(doc, rng).startswith(tok["text"].rstrip("\ufffd"))
    # The hover over each span quotes exactly the text under the diagnostic's range.
    for diag in diags:
        hover = await hover_at(client, uri, diag.range.start)
        assert hover is not None
        quoted = text_in_range(doc, diag.range).replace("\n", "⏎")
        assert f"`{quoted}`" in hover.contents.value


async def test_diagnostic_hover_and_code_actions_give_one_answer(client: LanguageClient) -> None:
    """For every flagged span: the hover list, the quick fixes and the diagnostic agree.

    Same alternatives, same order (by the probability shown), each quick fix a valid edit of
    the span's range; the diagnostic message quotes the list's first entry once computed.
    """
    uri, doc, _, diags = await flagged(client)
    outside = await hover_at(client, uri, types.Position(line=0, character=0))
    assert outside is None
    for diag in diags:
        hover = await hover_at(client, uri, diag.range.start)
        for _ in range(60):  # a busy machine: the list is kept once computed, hover again
            if hover is None or "not available yet" not in hover.contents.value:
                break
            await asyncio.sleep(1.0)
            hover = await hover_at(client, uri, diag.range.start)
        assert hover is not None and hover.range == diag.range
        value = hover.contents.value
        assert "The model gave '" in value and "%" in value
        level = {1: "Error", 2: "Warning", 3: "Information", 4: "Hint"}[diag.severity]
        # the hover says why the level is what it is
        assert f"{level}: only " in value or f"{level}: caveat estimates a " in value
        listed = re.findall(r"^\d+\. `(.*)` — (\S+)$", value, re.M)
        actions = await quick_fixes(client, uri, diag) or None
        titles = [a.title for a in actions or []]
        assert titles == [f"Replace with '{t}' (caveat, {p})" for t, p in listed]
        edits = [a.edit.document_changes[0].edits[0].new_text for a in actions or []]
        assert [e.replace("\n", "⏎") for e in edits] == [t for t, _ in listed]
        shown = [float(p.rstrip("%")) for _, p in listed if p.endswith("%") and p[0].isdigit()]
        assert shown == sorted(shown, reverse=True)
        if not listed:
            assert "no alternative that keeps the code valid" in value
            assert actions is None
        for action in actions or []:
            edit = action.edit.document_changes[0].edits[0]
            assert edit.range == diag.range
            assert action.diagnostics and action.diagnostics[0].data == diag.data
        # Computing the list republished the diagnostics: the message quotes its first entry.
        current = {d.data["spanId"]: d for d in client.diagnostics[uri]}
        message = current[diag.data["spanId"]].message
        if listed:
            assert message.endswith(f"it also considered '{listed[0][0]}'")
        else:
            assert "also considered" not in message
    assert doc


async def test_typing_above_shifts_and_inside_clears(client: LanguageClient) -> None:
    """A line inserted above moves the spans down; a keystroke inside one removes it."""
    uri, doc, _, diags = await flagged(client)
    recorder = Recorder.of(client)
    top = types.Range(start=types.Position(0, 0), end=types.Position(0, 0))
    await recorder.change(uri, 3, top, "# a new first line\n")
    doc = "# a new first line\n" + doc
    shifted = client.diagnostics[uri]
    assert [(d.range.start.line, d.range.start.character) for d in shifted] == [
        (d.range.start.line + 1, d.range.start.character) for d in diags
    ]
    assert [d.data["spanId"] for d in shifted] == [d.data["spanId"] for d in diags]
    target = shifted[0]
    inside = types.Position(target.range.start.line, target.range.start.character + 1)
    if target.range.end == inside:  # a one-unit span: type at its start's inside edge instead
        inside = target.range.start
    await recorder.change(uri, 4, types.Range(start=inside, end=inside), "z")
    remaining = {d.data["spanId"] for d in client.diagnostics[uri]}
    if inside != target.range.start:
        assert target.data["spanId"] not in remaining
    assert remaining <= {d.data["spanId"] for d in shifted}


async def test_undo_removes_all_spans(client: LanguageClient) -> None:
    """Deleting the inserted completion clears its diagnostics."""
    uri, doc, result, _ = await flagged(client)
    start = utf16_position(doc, len(doc) - len(result["text"]))
    end = utf16_position(doc, len(doc))
    await Recorder.of(client).change(uri, 3, types.Range(start=start, end=end), "")
    assert list(client.diagnostics[uri]) == []
    assert Recorder.of(client).confidence[uri][-1]["tokens"] == []


async def quick_fixes(client: LanguageClient, uri: str, diag: Any) -> list[Any]:
    """The quick fixes of a diagnostic, asking again while the server is still computing them.

    A span's list is computed on the first request; on a busy machine that request answers
    without it and the list is kept when done (the hover then no longer says "not available").
    """
    for _ in range(60):
        actions = await asyncio.wait_for(
            client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=diag.range,
                    context=types.CodeActionContext(diagnostics=[diag]),
                )
            ),
            WAIT,
        )
        if actions:
            return list(actions)
        hover = await hover_at(client, uri, diag.range.start)
        if hover is None or "not available yet" not in hover.contents.value:
            return []  # computed: this span has no valid alternative
        await asyncio.sleep(1.0)
    return []


async def test_code_action_replaces_the_span_and_clears_it(client: LanguageClient) -> None:
    """A quick fix carries a versioned edit; applying it removes the span's diagnostic."""
    seen = []
    for index, prompt in enumerate(UNSURE_PROMPTS + FIXABLE_PROMPTS):
        uri, doc, _ = await accept_completion(client, f"fix{index}_{time.time_ns()}", prompt)
        diags = list(client.diagnostics.get(uri, []))
        found = [(d, await quick_fixes(client, uri, d)) for d in diags]
        with_fixes = [(d, a) for d, a in found if a]
        if with_fixes:
            break
        seen += [text_in_range(doc, d.range) for d in diags]
    else:
        pytest.fail(f"no flagged span got a quick fix: {seen}")
    target, actions = with_fixes[0]
    action = actions[0]
    assert isinstance(action, types.CodeAction) and action.kind == types.CodeActionKind.QuickFix
    assert action.title.startswith("Replace with '") and "(caveat, " in action.title
    assert action.edit is not None and action.edit.document_changes
    change = action.edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.uri == uri and change.text_document.version == 2
    edit = change.edits[0]
    assert isinstance(edit, types.TextEdit)
    await Recorder.of(client).change(uri, 3, edit.range, edit.new_text)
    assert target.data["spanId"] not in {d.data["spanId"] for d in client.diagnostics[uri]}
    assert edit.new_text in apply_text_edit(doc, edit.range, edit.new_text)


async def test_cancel_request_answers_promptly(client: LanguageClient) -> None:
    """$/cancelRequest stops the decode within a step and answers RequestCancelled."""
    prompt = "numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,"
    uri = await open_doc(client, "cancel", prompt)
    recorder = Recorder.of(client)
    await set_max_tokens(client, 400)
    try:
        token = f"cancel-{time.time_ns()}"
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": 0, "character": len(prompt)},
            "partialResultToken": token,
        }
        msg_id = f"cancel-me-{time.time_ns()}"
        future = client.protocol.send_request("caveat/complete", params, msg_id=msg_id)
        await recorder.wait_partial(token)
        cancelled_at = time.perf_counter()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        with pytest.raises(JsonRpcException) as info:
            await asyncio.wait_for(asyncio.wrap_future(future), WAIT)
        assert info.value.code == -32800
        assert time.perf_counter() - cancelled_at < 1.0
    finally:
        await set_max_tokens(client, INIT_OPTIONS["completion"]["maxTokens"])
    # The worker is free again: a fresh, short request starts at once and completes.
    result = await complete(client, uri, types.Position(0, len(prompt)))
    assert result["text"] and len(result["tokens"]) <= 24
    assert result["timings"]["queueMs"] < 1000


async def test_newer_request_supersedes_older(client: LanguageClient) -> None:
    """Two requests for one document: the first answers cancelled, the second completes."""
    prompt = "def greet(name):\n    return "
    uri = await open_doc(client, "supersede", prompt)
    pos = end_position(prompt)
    first = asyncio.ensure_future(complete(client, uri, pos))
    await asyncio.sleep(0)  # make sure the first request is sent first
    second = asyncio.ensure_future(complete(client, uri, pos))
    older, newer = await asyncio.gather(first, second)
    assert older["text"] == "" and older["stopReason"] == "cancelled"
    assert newer["text"] and newer["stopReason"] != "cancelled"


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("caveat/complete", {"position": {"line": 0}}, -32602),
        (
            "caveat/complete",
            {"textDocument": {"uri": "file:///nope.py"}, "position": {"line": 0, "character": 0}},
            -32602,
        ),
        ("caveat/noSuchMethod", {}, -32601),
        ("textDocument/hover", {"textDocument": 5, "position": {"line": "x"}}, -32602),
        ("workspace/executeCommand", {"command": "caveat.accept", "arguments": [42]}, -32602),
        ("workspace/executeCommand", {"command": "caveat.nothing", "arguments": []}, -32602),
    ],
)
async def test_bad_requests_get_errors_and_the_server_stays_up(
    client: LanguageClient, method: str, params: dict[str, Any], code: int
) -> None:
    """Malformed params and unknown methods answer JSON-RPC errors; later requests still work."""
    with pytest.raises(JsonRpcException) as info:
        await send_raw_request(client, method, params)
    assert info.value.code == code
    prompt = "x = 1\ny = "
    uri = await open_doc(client, f"alive{time.time_ns()}", prompt)
    assert (await complete(client, uri, end_position(prompt)))["id"]


async def test_edit_during_completion_drops_the_result(client: LanguageClient) -> None:
    """A completion whose document changes while it decodes is stopped and not delivered."""
    prompt = "numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,"
    uri = await open_doc(client, f"stale{time.time_ns()}", prompt)
    recorder = Recorder.of(client)
    token = f"stale-{time.time_ns()}"
    await set_max_tokens(client, 400)
    try:
        pending = asyncio.ensure_future(
            complete(client, uri, types.Position(0, len(prompt)), token)
        )
        await recorder.wait_partial(token)  # it is decoding now
        top = types.Range(start=types.Position(0, 0), end=types.Position(0, 0))
        await recorder.change(uri, 2, top, "# edited\n")
        result = await pending
    finally:
        await set_max_tokens(client, INIT_OPTIONS["completion"]["maxTokens"])
    assert result["text"] == "" and result["stopReason"] == "cancelled"
    assert result["version"] == 1


async def test_scan_publishes_spans_and_clear_removes_them(client: LanguageClient) -> None:
    """caveat.scanDocument scores existing code with progress; caveat.clear forgets it."""
    text = (
        "import os\n\n\ndef list_python_files(folder):\n"
        "    return [f for f in os.listdir(folder) if f.endswith('.py')]\n"
    )
    uri = await open_doc(client, f"scan{time.time_ns()}", text)
    recorder = Recorder.of(client)
    before = set(client.progress_reports)
    reply = await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="caveat.scanDocument", arguments=[uri])
        ),
        WAIT,
    )
    assert reply["spans"] >= 1
    diags = client.diagnostics[uri]
    assert len(diags) == reply["spans"]
    for diag in diags:
        assert diag.data["completionId"] == "scan" and text_in_range(text, diag.range).strip()
    new_tokens = set(client.progress_reports) - before
    kinds = [type(r).__name__ for t in new_tokens for r in client.progress_reports[t]]
    assert "WorkDoneProgressBegin" in kinds and "WorkDoneProgressEnd" in kinds
    assert len(recorder.confidence[uri][-1]["tokens"]) > 10
    await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="caveat.clear", arguments=[uri])
        ),
        WAIT,
    )
    assert list(client.diagnostics[uri]) == []
    assert recorder.confidence[uri][-1]["tokens"] == []
