"""Measure a decode step on a second thread while llama.cpp evaluates the token it chose.

Once the next token is chosen (an argmax or a sample, both cheap), its full-vocabulary measures
(one `exp` over the whole vocabulary, ~1 ms at 262,144 logits) are no longer needed to continue:
they only fill the token's record. llama.cpp releases the GIL while it decodes, and the engine
leaves one core free for exactly this (threads default to cores - 1), so computing the measures
during the next forward pass takes them off the critical path.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from caveat.records.measures import TokenMeasures, make_work, token_measures


class MeasureOverlap:
    """One worker thread and the buffers it owns; one step in flight at a time."""

    def __init__(self, n_vocab: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caveat-measures")
        # The logits row is copied: the forward pass that runs meanwhile overwrites llama's.
        self._row = np.empty(n_vocab, dtype=np.float32)
        self._work = make_work(n_vocab)

    def measure_during(
        self,
        logits: npt.NDArray[np.float32],
        chosen: int,
        k: int,
        evaluate: Callable[[], None],
    ) -> TokenMeasures:
        """The measures of `chosen` in `logits`, computed while `evaluate()` runs.

        `evaluate`'s exception, if any, propagates after the measures are done, so the buffers
        are never shared between two steps.
        """
        np.copyto(self._row, logits)
        future = self._pool.submit(token_measures, self._row, chosen, k, self._work)
        try:
            evaluate()
        except BaseException:
            future.exception()  # wait for it; the decode error is the one to report
            raise
        return future.result()

    def close(self) -> None:
        """Stop the worker thread."""
        self._pool.shutdown(wait=True)
