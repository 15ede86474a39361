"""`caveat/didView`: the lines a client has on screen, as repository context for completions.

Clients send it when an editor scrolls or changes (debounced); a region of another open
document viewed recently goes into the prompt like a recent edit (`source: "view"`). Malformed
params are logged and ignored: a notification has no answer to carry an error.
"""

from __future__ import annotations

import logging
from typing import Any

from caveat.server.context import tracker_of
from caveat.server.jsonish import plain
from caveat.server.server import CaveatServer

logger = logging.getLogger(__name__)

#: Ranges read from one notification (an editor shows a few at most).
MAX_RANGES = 4


def viewed_ranges(params: Any) -> tuple[str, list[tuple[int, int]]] | None:
    """(uri, [(first, last) 1-based lines]) from raw params; None when they are malformed."""
    params = plain(params)
    try:
        uri = params["textDocument"]["uri"]
        out = []
        for rng in params["ranges"][:MAX_RANGES]:
            first, last = int(rng["start"]["line"]) + 1, int(rng["end"]["line"]) + 1
            if 1 <= first <= last:
                out.append((first, last))
    except (KeyError, TypeError, ValueError, OverflowError, IndexError):
        return None
    return (uri, out) if isinstance(uri, str) else None


def register(server: CaveatServer) -> None:
    """Register the `caveat/didView` notification."""

    @server.feature("caveat/didView")
    def did_view(ls: CaveatServer, params: Any) -> None:
        found = viewed_ranges(params)
        if found is None:
            logger.info("caveat/didView: malformed params ignored")
            return
        uri, ranges = found
        if uri not in ls.workspace.text_documents:
            return
        tracker = tracker_of(ls)
        for first, last in ranges:
            tracker.viewed(uri, first, last)
