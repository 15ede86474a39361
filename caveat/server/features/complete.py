"""`caveat/complete`: the completion with per-token confidence, streamed as partial results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from caveat.server.candidates import MAX_CANDIDATES, confidence, with_candidates
from caveat.server.completing import Outcome, complete_at
from caveat.server.jsonish import plain
from caveat.server.server import CaveatServer


def parse_params(params: Any) -> tuple[str, types.Position, Any]:
    """(uri, position, partialResultToken) from raw params; JsonRpcInvalidParams if malformed."""
    params = plain(params)
    if not isinstance(params, dict):
        raise JsonRpcInvalidParams("caveat/complete expects an object")
    try:
        uri = params["textDocument"]["uri"]
        pos = params["position"]
        position = types.Position(line=int(pos["line"]), character=int(pos["character"]))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # inf: OverflowError
        raise JsonRpcInvalidParams(
            "caveat/complete expects {textDocument: {uri}, position: {line, character}}"
        ) from exc
    if not isinstance(uri, str) or position.line < 0 or position.character < 0:
        raise JsonRpcInvalidParams("caveat/complete: bad uri or negative position")
    token = params.get("partialResultToken")
    if token is not None and not isinstance(token, (str, int)):
        raise JsonRpcInvalidParams("caveat/complete: partialResultToken must be a string or int")
    return uri, position, token


def parse_n(params: Any, default: int) -> int:
    """The `n` param (how many candidates), 1 to MAX_CANDIDATES; `default` when absent."""
    raw = plain(params).get("n") if isinstance(plain(params), dict) else None
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_CANDIDATES:
        raise JsonRpcInvalidParams(f"caveat/complete: n must be a whole number 1-{MAX_CANDIDATES}")
    return raw


def result_json(outcome: Outcome, candidates: Sequence[Outcome] = ()) -> dict[str, Any]:
    """The `CaveatCompletion` result of docs/PROTOCOL.md; `candidates` all of them, in order."""
    snap = outcome.snapshot
    out: dict[str, Any] = {
        "id": outcome.id,
        "uri": snap.uri,
        "version": snap.version,
        "position": {"line": snap.position.line, "character": snap.position.character},
        "text": outcome.text,
        "stopReason": "cancelled",
        "promptMode": None,
        "healing": None,
        "tokens": outcome.tokens,
        "timings": None,
        "context": [],
        "candidates": [],
    }
    c = outcome.completion
    if c is None or outcome.cancelled:
        out["tokens"] = []
        out["text"] = ""
        return out
    t = c.timings
    out.update(
        stopReason=c.stop_reason,
        promptMode=c.prompt_mode,
        healing={
            "mode": c.healing.mode,
            "fragment": c.healing.fragment.decode("utf-8", errors="replace"),
            "cover": c.healing.cover_text,
        },
        timings={
            "queueMs": t.queue_ms,
            "prefillMs": t.prefill_ms,
            "firstTokenMs": t.first_token_ms,
            "totalMs": t.total_ms,
            "tokensPerSecond": t.tokens_per_second,
        },
        context=[
            {
                "path": chunk.path,
                "startLine": chunk.start_line,
                "endLine": chunk.end_line,
                "tokens": chunk.tokens,
                "source": chunk.source,
            }
            for chunk in (c.context.chunks if c.context else ())
        ],
        candidates=[
            {
                "id": o.id,
                "text": o.text,
                "confidence": confidence(o.completion),
                "tokens": o.tokens,
            }
            for o in candidates
            if o.completion is not None and len(candidates) > 1
        ],
    )
    return out


def register(server: CaveatServer) -> None:
    """Register the `caveat/complete` request."""

    @server.feature("caveat/complete")
    async def complete(ls: CaveatServer, params: Any) -> dict[str, Any]:
        uri, position, token = parse_params(params)
        n = parse_n(params, ls.settings.completion.candidates)
        outcome = await complete_at(ls, uri, position, debounce=False, partial_token=token)
        return result_json(outcome, await with_candidates(ls, outcome, n))
