"""Uncertainty-guided rerank: what else the model would have written at an uncertain token.

AdaDec's pause-then-rerank ("Towards Better Code Generation: Adaptive Decoding with Uncertainty
Guidance"): take the top-k candidates at an uncertain step and roll each out greedily for a few
tokens. Here every candidate is completed to the end of the syntax unit it starts or continues
(`unit_stop`), so that what a span could be replaced with is a whole unit, not a token; which
of them is worth offering is the annotate layer's decision.

All rollouts start from the same context, so prefix reuse (the runtime's, or the serving
engine's prompt cache) evaluates the shared context once and each candidate costs one token
plus its lookahead steps.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from caveat.engine.rollout import Rollout, unit_stop
from caveat.records.types import Alternative

if TYPE_CHECKING:
    from caveat.engine.backend import Backend

#: Tokens a rollout may take to close its unit; one that has not closed by then is unfinished.
HOVER_LOOKAHEAD = 16


def rerank(
    engine: Backend,
    prefix: str,
    candidates: Sequence[Alternative] | None = None,
    *,
    span_end_text: str = "",
    k: int = 3,
    lookahead: int = HOVER_LOOKAHEAD,
    cancel: threading.Event | None = None,
    language: str | None = None,
    depth0: int = 0,
    inner: str = "",
) -> list[Rollout]:
    """Roll out what the model would write after `prefix`, each candidate to its unit's end.

    `prefix` is the document text up to the uncertain token; `candidates` default to the top-k
    tokens there (given ones are re-scored in this context, so `logprobs[0]` of each rollout is
    the candidate's log-probability after exactly `prefix`; the first k are kept).
    `span_end_text` is the document text after the unit (rollouts stop where they rejoin it),
    `depth0` the bracket depth open inside the unit before the candidate and `inner` the rest
    of the original unit after the uncertain token (see `unit_stop`). Returned in candidate
    order; `Rollout.ended` is False for one that did not close its unit within `lookahead`.
    Raises EngineCancelled when `cancel` is set (checked before every model evaluation).
    """
    stop = unit_stop(depth0, span_end_text, language, inner)
    return engine.roll_candidates(
        prefix, candidates, k=k, lookahead=lookahead, stop=stop, cancel=cancel
    )
