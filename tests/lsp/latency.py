"""Keystroke-to-first-partial-result latency of `caveat serve` over stdio, with the real model.

Run: python tests/lsp/latency.py [N] [THREADS]. Starts the server, waits for the model, then times
didChange (one typed character) + `caveat/complete` until the first `$/progress` chunk:
- cold: each request in a new document (no prompt prefix to reuse),
- warm: successive keystrokes in one document (the KV cache holds the shared prefix).
Prints the medians (and quartiles) in milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lsp.support import Recorder, make_client

BODY = (
    "import math\n\n\ndef area_of_circle(radius):\n"
    '    """Return the area of a circle of the given radius."""\n'
    "    return math.pi * radius ** 2\n\n\ndef perimeter_of_square(side):\n    return "
)


async def _one(client: Any, uri: str, version: int, text: str, typed: str) -> float:
    """Type `typed` at the end of `text`, request a completion, return ms to the first chunk."""
    recorder = Recorder.of(client)
    lines = text.split("\n")
    end = types.Position(line=len(lines) - 1, character=len(lines[-1].encode("utf-16-le")) // 2)
    token = f"lat-{time.time_ns()}"
    t0 = time.perf_counter()
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=end, end=end), text=typed
                )
            ],
        )
    )
    after = text + typed
    lines = after.split("\n")
    cursor = {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}
    request = asyncio.ensure_future(
        client.protocol.send_request_async(
            "caveat/complete",
            {"textDocument": {"uri": uri}, "position": cursor, "partialResultToken": token},
        )
    )
    # An empty completion sends no chunk: then the response itself is the first answer.
    while not recorder.partials.get(token) and not request.done():
        await asyncio.sleep(0.001)
    answered = time.perf_counter()
    await asyncio.wait_for(request, 120)
    chunks = recorder.partials.get(token)
    first = chunks[0][0] if chunks else answered
    print(f"  {len(chunks or [])} chunks, first after {(first - t0) * 1000:.0f} ms", flush=True)
    return (first - t0) * 1000


def _open(client: Any, uri: str, text: str) -> None:
    """didOpen a Python document."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )


def _summary(name: str, values: list[float]) -> str:
    """Median and quartiles of a list of milliseconds."""
    q = statistics.quantiles(values, n=4)
    median = statistics.median(values)
    return f"{name}: median {median:.0f} ms (q1 {q[0]:.0f}, q3 {q[2]:.0f}, n={len(values)})"


async def main(n: int, threads: int) -> None:
    """Measure and print."""
    client = make_client()
    await client.start_io(sys.executable, "-m", "caveat", "serve")
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            initialization_options={
                "model": {"threads": threads},
                "completion": {"debounceMs": 0, "maxTokens": 16},
            },
        )
    )
    t0 = time.perf_counter()
    status = await Recorder.of(client).wait_ready()
    print(f"model {status['model']!r} {status['state']} after {time.perf_counter() - t0:.1f} s")
    cold = []
    for i in range(n):
        uri = f"file:///latency/cold{i}.py"
        text = f"# module {i}: {'abcdefghij'[i % 10] * (i + 1)}\n" + BODY
        _open(client, uri, text)
        cold.append(await _one(client, uri, 2, text, "s"))
    uri = "file:///latency/warm.py"
    text = BODY
    _open(client, uri, text)
    await _one(client, uri, 2, text, "s")  # prime the cache for this document
    text += "s"
    warm = []
    typed = "ide * 4  # the perimeter is four times the side of the square"
    for i, char in enumerate((typed * 2)[:n]):
        warm.append(await _one(client, uri, 3 + i, text, char))
        text += char
    print(_summary("cold (new document each time)", cold))
    print(_summary("warm (next keystroke, same document)", warm))
    await client.shutdown_session()
    await client.stop()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    asyncio.run(main(count, int(sys.argv[2]) if len(sys.argv) > 2 else 0))
