"""A pytest-lsp client that also records caveat's own notifications and partial results."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from concurrent.futures import Future
from typing import Any

import attrs
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

#: Seconds to wait for any single answer from the server.
WAIT = 60.0
#: Seconds to wait for the model to load (the first run assembles it into the user cache).
LOAD_WAIT = 300.0


def plain(value: Any) -> Any:
    """A notification payload as plain JSON-like data (pygls may hand over attrs objects)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        # pygls turns JSON objects of unknown methods into named tuples.
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if attrs.has(type(value)):
        return get_converter().unstructure(value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: plain(v) for k, v in vars(value).items()}
    return value


class Recorder:
    """What the server sent besides responses: statuses, token confidences, partial results."""

    def __init__(self, client: LanguageClient) -> None:
        """Record for `client`."""
        self.client = client
        self.statuses: list[dict[str, Any]] = []
        self.confidence: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.partials: dict[Any, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        self.init_result: Any = None

    @staticmethod
    def of(client: LanguageClient) -> Recorder:
        """The recorder attached to `client`."""
        recorder: Recorder = client._caveat_recorder  # type: ignore[attr-defined]
        return recorder

    async def _until(self, check: Any, timeout: float, what: str) -> None:
        """Poll `check()` until true, failing after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    async def wait_ready(self, timeout: float = LOAD_WAIT) -> dict[str, Any]:
        """Wait for `caveat/status` ready or error; return it."""
        done = lambda: any(s["state"] in ("ready", "error") for s in self.statuses)  # noqa: E731
        await self._until(done, timeout, "the model to load")
        return next(s for s in self.statuses if s["state"] in ("ready", "error"))

    async def wait_partial(self, token: Any, timeout: float = WAIT) -> None:
        """Wait for the first partial result of `token`."""
        await self._until(lambda: bool(self.partials.get(token)), timeout, "a partial result")

    async def change(self, uri: str, version: int, rng: types.Range, text: str) -> None:
        """Send one incremental didChange, then a round trip so its effects have arrived."""
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
            )
        )
        await self.barrier(uri)

    async def barrier(self, uri: str) -> None:
        """A cheap request: the server answers in order, so earlier notifications are in."""
        await asyncio.wait_for(
            self.client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=0, character=0),
                )
            ),
            WAIT,
        )


def make_client() -> LanguageClient:
    """A pytest-lsp client whose `$/progress` handler also accepts partial results."""
    client = LanguageClient(converter_factory=default_converter)
    recorder = Recorder(client)
    client._caveat_recorder = recorder  # type: ignore[attr-defined]
    features = dict(DEFAULT_CLIENT_FEATURES)
    work_done = features[types.PROGRESS]

    def progress(ls: LanguageClient, params: types.ProgressParams) -> None:
        value = plain(params.value)
        if isinstance(value, dict) and "kind" in value:
            work_done(ls, params)
        else:
            recorder.partials[params.token].append((time.perf_counter(), value))

    features[types.PROGRESS] = progress
    register_lsp_features(client, features)

    @client.feature("caveat/status")
    def status(ls: LanguageClient, params: Any) -> None:
        recorder.statuses.append(plain(params))

    @client.feature("caveat/tokenConfidence")
    def token_confidence(ls: LanguageClient, params: Any) -> None:
        data = plain(params)
        recorder.confidence[data["uri"]].append(data)

    return client


def utf16_position(text: str, offset: int) -> types.Position:
    """The LSP position (UTF-16 columns) of code-point `offset` in `text`."""
    before = text[:offset]
    line = before.count("\n")
    column = before[before.rfind("\n") + 1 :]
    return types.Position(line=line, character=len(column.encode("utf-16-le")) // 2)


def utf16_offset(text: str, position: types.Position) -> int:
    """The code-point offset of an LSP position (UTF-16 columns) in `text`."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = line.encode("utf-16-le")[: position.character * 2]
    return start + len(units.decode("utf-16-le"))


def text_in_range(text: str, rng: types.Range) -> str:
    """The text an LSP range (UTF-16) covers."""
    return text[utf16_offset(text, rng.start) : utf16_offset(text, rng.end)]


def apply_text_edit(text: str, rng: types.Range, new_text: str) -> str:
    """`text` with the range replaced, as a client applies an edit."""
    return text[: utf16_offset(text, rng.start)] + new_text + text[utf16_offset(text, rng.end) :]


async def open_doc(client: LanguageClient, name: str, text: str) -> str:
    """Open a Python document and return its URI."""
    uri = f"file:///caveat-tests/{name}.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    return uri


async def complete(
    client: LanguageClient, uri: str, position: types.Position, token: Any = None
) -> dict[str, Any]:
    """Send `caveat/complete` and wait (with a timeout) for its result."""
    params: dict[str, Any] = {
        "textDocument": {"uri": uri},
        "position": {"line": position.line, "character": position.character},
    }
    if token is not None:
        params["partialResultToken"] = token
    result = await asyncio.wait_for(
        client.protocol.send_request_async("caveat/complete", params), WAIT
    )
    data: dict[str, Any] = plain(result)
    return data


def end_position(text: str) -> types.Position:
    """The UTF-16 position at the end of `text`."""
    return utf16_position(text, len(text))


async def accept_completion(
    client: LanguageClient, name: str, prompt: str
) -> tuple[str, str, dict[str, Any]]:
    """Complete at the end of `prompt`, insert the text as an editor would, accept it."""
    uri = await open_doc(client, name, prompt)
    pos = end_position(prompt)
    result = await complete(client, uri, pos)
    assert result["text"], result
    doc = apply_text_edit(prompt, types.Range(start=pos, end=pos), result["text"])
    await Recorder.of(client).change(uri, 2, types.Range(start=pos, end=pos), result["text"])
    reply = await accept(client, result["id"])
    assert reply["recorded"] is True
    return uri, doc, result


async def accept(client: LanguageClient, completion_id: str) -> Any:
    """Tell the server, as an editor's accept command does, that a completion was inserted."""
    return await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="caveat.accept", arguments=[{"completionId": completion_id}]
            )
        ),
        WAIT,
    )


async def initialize_vscode(client: LanguageClient, options: dict[str, Any]) -> Any:
    """Initialize as VS Code does with `options`; the result is kept on the client's Recorder."""
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options=options,
        )
    )
    Recorder.of(client).init_result = result
    return result


def char_offset(text: str, utf16_offset: int) -> int:
    """The code-point offset of a UTF-16 offset into `text`."""
    return len(text.encode("utf-16-le")[: utf16_offset * 2].decode("utf-16-le"))


async def hover_at(client: LanguageClient, uri: str, pos: types.Position) -> Any:
    """Hover with a timeout."""
    return await asyncio.wait_for(
        client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=pos)
        ),
        WAIT,
    )


async def set_max_tokens(client: LanguageClient, value: int) -> None:
    """Change completion.maxTokens through workspace/configuration, as VS Code does."""
    client.set_configuration({"completion": {"maxTokens": value}}, section="caveat")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.2)  # the server pulls the section back from us


async def send_raw_request(client: LanguageClient, method: str, params: Any) -> Any:
    """Send a request exactly as given (no client-side typing), return its result or raise."""
    msg_id = f"raw-{time.time_ns()}"
    future: Future[Any] = Future()
    client.protocol._request_futures[msg_id] = future
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    data = body.encode("utf-8")
    writer: Any = client.protocol.writer
    writer.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return await asyncio.wait_for(asyncio.wrap_future(future), WAIT)
