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
from caveat.engine.types import TokenRecord
from caveat.engine.vocab import Vocabulary
from caveat.scoring.measures import token_measures

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
) -> list[TokenRecord]:
    """Score every token of `data` given the tokens before it (and BOS when bos >= 0)."""
    tokens = vocab.encode(data)
    if not tokens:
        return []
    start: list[int] = [bos] if bos >= 0 else []
    records: list[TokenRecord] = []
    offset = 0
    window = max(16, runtime.n_ctx - SCAN_CHUNK - 2)
    i = 0
    if start:
        runtime.sync(start)
    else:
        # Without BOS the first token has no context to be scored under: it gets no record.
        runtime.sync(tokens[:1])
        offset = len(vocab.token_bytes[tokens[0]])
        i = 1
    prev = runtime.logits().copy()
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
            progress(i / len(tokens))
    return records
