"""Timed completions against llama.cpp's own llama-server, the latency benchmark's reference.

The server is the one `caveat llama-server` runs (`caveat.engine.remote`), driven here through
`/completion` with streaming and `n_probs`, timing the first content chunk and the end.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from caveat.engine.remote.process import LlamaServer


@dataclass(frozen=True)
class ServerResult:
    """One streamed `/completion`: wall-clock times seen by the client and the server's counts."""

    first_token_ms: float
    first_visible_ms: float | None  # first chunk after which the text is not all whitespace
    total_ms: float
    tokens: int
    tokens_per_second: float
    prompt_ms: float
    prompt_tokens: int
    text: str


def timed_completion(
    server: LlamaServer, prompt: str, *, n_predict: int, n_probs: int = 5, cache_prompt: bool = True
) -> ServerResult:
    """Stream one greedy `/completion`; time the first content chunk and the end."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "n_predict": n_predict,
        "n_probs": n_probs,
        "temperature": 0.0,
        "top_k": 1,
        "stream": True,
        "cache_prompt": cache_prompt,
    }
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    t0 = time.perf_counter()
    conn.request("POST", "/completion", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    first: float | None = None
    visible: float | None = None
    text: list[str] = []
    final: dict[str, Any] = {}
    for raw in resp:
        line = raw.strip()
        if not line.startswith(b"data: "):
            continue
        chunk = json.loads(line[6:])
        if first is None and (chunk.get("content") or chunk.get("completion_probabilities")):
            first = time.perf_counter()
        text.append(str(chunk.get("content", "")))
        if visible is None and text[-1].strip():
            visible = time.perf_counter()
        if chunk.get("stop"):
            final = chunk
            break
    end = time.perf_counter()
    conn.close()
    timings = final.get("timings", {})
    return ServerResult(
        first_token_ms=((first or end) - t0) * 1000,
        first_visible_ms=(visible - t0) * 1000 if visible is not None else None,
        total_ms=(end - t0) * 1000,
        tokens=int(timings.get("predicted_n", 0)),
        tokens_per_second=float(timings.get("predicted_per_second", 0.0)),
        prompt_ms=float(timings.get("prompt_ms", 0.0)),
        prompt_tokens=int(timings.get("prompt_n", 0)),
        text="".join(text),
    )
