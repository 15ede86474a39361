"""Teacher-forced scoring of existing text: one batched pass, logits for every position.

Rows are requested in chunks (64 positions x 262,144 logits x 4 bytes = 64 MiB) so memory
stays bounded; documents longer than the context are scored in windows that restart with the
last half-window of tokens as context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from caveat.engine.errors import EngineCancelled
from caveat.engine.records import make_record
from caveat.engine.runtime import Runtime
from caveat.engine.vocab import Vocabulary
from caveat.records.measures import token_measures
from caveat.records.types import TokenRecord

SCAN_CHUNK = 64


def scan_tokens(
    *,
    vocab: Vocabulary,
    runtime: Runtime,
    work: npt.NDArray[np.float32],
    data: bytes,
    bos: int,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
    k: int = 5,
    start_byte: int = 0,
) -> list[TokenRecord]:
    """Score the tokens of `data` from `start_byte` on, each given the tokens before it.

    Text before `start_byte` is context only: it is evaluated without per-position logits
    (the token that straddles `start_byte` is scored). BOS is prepended when bos >= 0.
    """
    tokens = vocab.encode(data)
    if not tokens or start_byte >= len(data):
        return []
    start: list[int] = [bos] if bos >= 0 else []
    records: list[TokenRecord] = []
    window = max(16, runtime.n_ctx - SCAN_CHUNK - 2)
    # First token to score: the one that holds byte `start_byte` (or the first after it).
    i, offset = 0, 0
    while i < len(tokens) - 1 and offset + len(vocab.token_bytes[tokens[i]]) <= start_byte:
        offset += len(vocab.token_bytes[tokens[i]])
        i += 1
    if not start and i == 0:
        # Without BOS the first token has no context to be scored under: it gets no record.
        offset, i = len(vocab.token_bytes[tokens[0]]), 1
    # Prefill the context (at most half a window of it) with logits for its last position.
    runtime.sync([*start, *tokens[max(0, i - window // 2) : i]])
    prev = runtime.logits().copy()
    first = i
    while i < len(tokens):
        if cancel is not None and cancel.is_set():
            raise EngineCancelled("scan cancelled")
        if len(runtime.tokens) + SCAN_CHUNK >= window:
            # Restart with the recent half-window as context so scoring keeps its footing.
            keep = [*start, *tokens[max(0, i - window // 2) : i]]
            runtime.reset()
            runtime.sync(keep)
            prev = runtime.logits().copy()
        chunk = tokens[i : i + SCAN_CHUNK]
        rows = runtime.decode_positions(chunk)
        for j, tok in enumerate(chunk):
            logits = prev if j == 0 else rows[j - 1]
            m = token_measures(logits, tok, k, work)
            records.append(make_record(m, vocab, offset))
            offset += len(vocab.token_bytes[tok])
        prev = rows[-1]
        i += len(chunk)
        if progress is not None:
            progress(min(1.0, (i - first) / max(1, len(tokens) - first)))
    return records
