"""Repository context for one completion: other open documents, their recent edits, and the
definitions of imported names found in the workspace folders.

`gather` runs on the event loop: it takes a snapshot of the open documents and notes which
lines of them changed since the last completion (the recent edits). The function it returns
runs on the model worker: it reads import targets (inside the workspace folders only, see
`caveat.annotate.context_sources`), counts tokens and picks the chunks within the budget.
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from pygls.uris import to_fs_path

from caveat.annotate.context_sources import MAX_FILE_BYTES, Workspace, import_chunks
from caveat.engine.backend import Backend
from caveat.engine.context import (
    ContextChunk,
    RepoContext,
    document_chunks,
    edit_chunk,
    edited_lines,
    select_chunks,
    words,
)
from caveat.server.server import CaveatServer

logger = logging.getLogger(__name__)

#: Recently edited regions remembered (over all documents), newest last.
EDITS_KEPT = 8
#: Recently viewed regions remembered (over all documents, from `caveat/didView`), newest last.
VIEWS_KEPT = 4
#: Lines of a viewed region kept: the middle of what was on screen.
VIEW_LINES = 40
#: Text around the cursor that chunks are deduplicated against (characters either side).
_WINDOW = 16_000

Picker = Callable[[Backend], RepoContext | None]


class EditTracker:
    """What the other documents looked like at the last completion, and where they changed."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.seen: dict[str, tuple[int | None, str]] = {}
        self.edits: deque[tuple[str, int, int]] = deque(maxlen=EDITS_KEPT)
        self.views: deque[tuple[str, int, int]] = deque(maxlen=VIEWS_KEPT)

    def viewed(self, uri: str, first: int, last: int) -> None:
        """Note that lines `first`..`last` (1-based) of `uri` were on screen."""
        if last - first + 1 > VIEW_LINES:
            middle = (first + last) // 2
            first, last = middle - VIEW_LINES // 2, middle + VIEW_LINES // 2 - 1
        self.views = deque(
            (v for v in self.views if v[0] != uri or not (v[1] <= last and first <= v[2])),
            maxlen=VIEWS_KEPT,
        )
        self.views.append((uri, max(1, first), last))

    def observe(self, uri: str, version: int | None, text: str) -> None:
        """Note the document's text; remember the lines that changed since it was last seen."""
        before = self.seen.get(uri)
        self.seen[uri] = (version, text)
        if before is None or before[0] == version or len(text) > MAX_FILE_BYTES:
            return
        for first, last in edited_lines(before[1], text)[-2:]:
            self.edits.append((uri, first, last))


_trackers: weakref.WeakKeyDictionary[CaveatServer, EditTracker] = weakref.WeakKeyDictionary()


def tracker_of(server: CaveatServer) -> EditTracker:
    """The server's tracker of edits and views (made on first use)."""
    return _trackers.setdefault(server, EditTracker())


def _path(uri: str) -> Path | None:
    """The file system path of a `file:` URI, else None."""
    if urlparse(uri).scheme != "file":
        return None
    fs = to_fs_path(uri)
    return Path(fs) if fs else None


def _name(uri: str, ws: Workspace) -> str:
    """How the prompt names a document: relative to its workspace folder, else its file name."""
    path = _path(uri)
    real = ws.inside(path) if path is not None else None
    if real is not None:
        return ws.relative(real)
    return unquote(urlparse(uri).path).rsplit("/", 1)[-1] or uri


def _folders(server: CaveatServer) -> list[str]:
    """The workspace folders the client declared (the root when it named no folders)."""
    workspace = server.workspace
    paths = [to_fs_path(f.uri) for f in workspace.folders.values()]
    if not paths and workspace.root_path:
        paths = [workspace.root_path]
    return [p for p in paths if p]


def gather(server: CaveatServer, uri: str, text: str, offset: int, language: str | None) -> Picker:
    """Snapshot what the context of a completion at `offset` needs; return the worker's picker."""
    settings = server.settings.context
    if not settings.enabled or settings.max_tokens <= 0:
        return lambda engine: None
    tracker = tracker_of(server)
    others: list[tuple[str, str]] = []
    for other, doc in list(server.workspace.text_documents.items()):
        if other == uri:
            continue
        source = doc.source
        tracker.observe(other, doc.version, source)
        if len(source) > MAX_FILE_BYTES:
            logger.info("context: skipped open document %s: %d characters", other, len(source))
            continue
        others.append((other, source))
    texts = dict(others)
    edits = [(u, a, b) for u, a, b in tracker.edits if u in texts]
    views = [(u, a, b) for u, a, b in tracker.views if u in texts]
    folders = _folders(server)
    budget = settings.max_tokens

    def pick(engine: Backend) -> RepoContext | None:
        try:
            return _pick(engine)
        except Exception:  # context is a help: a failure in it must not cost the completion
            logger.warning("context for %s failed; completing without it", uri, exc_info=True)
            return None

    def _pick(engine: Backend) -> RepoContext | None:
        ws = Workspace.of(folders)
        # The line being typed is left out of what chooses chunks, so that the context (and the
        # KV cache holding it) stays the same while a line is typed.
        line_start = text.rfind("\n", 0, offset) + 1
        line_end = text.find("\n", offset)
        stable = text[:line_start] + (text[line_end:] if line_end >= 0 else "")
        wanted = words(stable)
        first, rest = import_chunks(stable, _path(uri), language, ws)
        candidates: list[ContextChunk] = list(first)
        for other, a, b in reversed(edits):
            candidates.append(edit_chunk(_name(other, ws), texts[other], a, b))
        for other, a, b in reversed(views):
            chunk = edit_chunk(_name(other, ws), texts[other], a, b, around=0, source="view")
            candidates.append(chunk)
        for other, source in others:
            candidates += document_chunks(_name(other, ws), source, wanted)
        candidates += rest
        cursor_text = text[max(0, offset - _WINDOW) : offset + _WINDOW]
        chunks = select_chunks(
            candidates,
            cursor_text=cursor_text,
            budget=budget,
            count=lambda s: engine.count_tokens(s),
            language=language,
        )
        used = ", ".join(f"{c.path}:{c.start_line}-{c.end_line} ({c.tokens})" for c in chunks)
        logger.debug("context for %s: %s", uri, used or "none")
        return RepoContext(_name(uri, ws), chunks) if chunks else None

    return pick
