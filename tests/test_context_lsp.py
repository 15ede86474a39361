"""Repository context through the real server: a two-file workspace over stdio.

The server is started with a workspace folder and `-v --log-file`, so the chunks each
completion used (a debug line) and the files it skipped can be read back.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp.support import WAIT, Recorder, complete, end_position, make_client
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOG = Path(tempfile.gettempdir()) / f"caveat-context-test-{os.getpid()}.log"
SERVER = [sys.executable, "-m", "caveat", "serve", "-v", "--log-file", str(LOG)]
OPTIONS = {"model": {"threads": 1}, "completion": {"debounceMs": 0, "maxTokens": 8}}

HELPERS = '''def compute_cart_total(items):
    """Sum the prices of the items."""
    return sum(item.price for item in items)
'''
SECRET = "def compute_secret_total(items):\n    return 42\n"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """helpers.py; secret.py, a symlink out of the folder; huge.py; blob.py (binary)."""
    base = tmp_path_factory.mktemp("context")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(SECRET)
    root = base / "project"
    root.mkdir()
    (root / "helpers.py").write_text(HELPERS)
    (root / "secret.py").symlink_to(outside / "secret.py")
    (root / "huge.py").write_text("def compute_huge_total():\n    pass\n" + "#" * 600_000)
    (root / "blob.py").write_bytes(b"def compute_blob_total():\n\x00\x01\x02")
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=SERVER, client_factory=make_client),
)
async def client(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    """A client whose one workspace folder is `workspace`, with the model loaded."""
    folder = types.WorkspaceFolder(uri=workspace.as_uri(), name="project")
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options=OPTIONS,
            workspace_folders=[folder],
            root_uri=workspace.as_uri(),
        )
    )
    await Recorder.of(lsp_client).wait_ready()
    yield
    await lsp_client.shutdown_session()
    LOG.unlink(missing_ok=True)


async def _complete(client: LanguageClient, path: Path, text: str) -> str:
    """Open `path` with `text`, complete at its end, return the text."""
    return str((await _result(client, path, text))["text"])


async def _result(client: LanguageClient, path: Path, text: str) -> dict[str, Any]:
    """Open `path` with `text`, complete at its end, return the whole result."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="python", version=1, text=text
            )
        )
    )
    return await complete(client, path.as_uri(), end_position(text))


def _context_line(path: Path) -> str:
    """The last debug line naming the context a completion of `path` used."""
    lines = [ln for ln in LOG.read_text().splitlines() if f"context for {path.as_uri()}:" in ln]
    assert lines, "no context line in the log"
    return lines[-1]


async def _configure(client: LanguageClient, enabled: bool) -> None:
    """Turn context on or off as VS Code does (the server pulls the section back)."""
    client.set_configuration({"context": {"enabled": enabled}}, section="caveat")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)


async def test_a_name_from_the_other_file_is_completed(
    client: LanguageClient, workspace: Path
) -> None:
    """With context the name defined only in helpers.py is completed, and the chunk reported."""
    await _configure(client, False)
    without = await _complete(client, workspace / "off.py", "import helpers\n\ntotal = helpers.")
    assert "compute_cart_total" not in without
    await _configure(client, True)
    main = workspace / "main.py"
    result = await _result(client, main, "import helpers\n\ntotal = helpers.")
    assert result["text"].startswith("compute_cart_total"), result["text"]
    line = _context_line(main)
    assert f"context for {main.as_uri()}: helpers.py:1-3 (" in line, line
    # The result says the same: the editor can show what the completion was based on.
    (chunk,) = [c for c in result["context"] if c["path"] == "helpers.py"]
    assert (chunk["startLine"], chunk["endLine"]) == (1, 3) and chunk["tokens"] > 0


async def test_outside_huge_and_binary_files_are_not_read(
    client: LanguageClient, workspace: Path
) -> None:
    """A symlink out of the workspace, a huge file and a binary file are skipped, with a log."""
    leak = workspace / "leak.py"
    await _complete(client, leak, "import secret, huge, blob\n\nvalue = secret.")
    assert _context_line(leak).endswith("none")
    messages = [m.message for m in client.log_messages]
    deadline = asyncio.get_running_loop().time() + WAIT
    while not sum("context:" in m for m in messages) >= 3:
        assert asyncio.get_running_loop().time() < deadline, messages
        await asyncio.sleep(0.05)
        messages = [m.message for m in client.log_messages]
    assert any("secret.py is outside the workspace folders; not read" in m for m in messages)
    assert any("skipped huge.py" in m and "over the limit" in m for m in messages)
    assert any("skipped blob.py: binary" in m for m in messages)
    assert "compute_secret_total" not in LOG.read_text()


async def test_viewed_lines_of_another_document_become_context(
    client: LanguageClient, workspace: Path
) -> None:
    """`caveat/didView` on another open document: those lines go into the prompt as "view"."""
    filler = [f"# note {i}: nothing to see here" for i in range(48)]
    fee = ["def shipping_fee_for(order):", "    return 4.99 if order.total < 50 else 0.0"]
    notes = workspace / "notes.py"
    text = "\n".join([*filler, *fee, *filler]) + "\n"
    item = types.TextDocumentItem(uri=notes.as_uri(), language_id="python", version=1, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    view = {
        "textDocument": {"uri": notes.as_uri()},
        "ranges": [{"start": {"line": 46, "character": 0}, "end": {"line": 51, "character": 0}}],
    }
    client.protocol.notify("caveat/didView", view)
    client.protocol.notify("caveat/didView", {"textDocument": "nonsense"})  # ignored, no crash
    result = await _result(client, workspace / "checkout.py", "fee = ")
    views = [c for c in result["context"] if c["source"] == "view"]
    assert views and views[0]["path"] == "notes.py", result["context"]
    assert views[0]["startLine"] <= 49 <= views[0]["endLine"]
