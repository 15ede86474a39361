"""The rollout kernel: append a candidate token and decode greedily a few tokens past it.

Shared by adaptive decoding (`decode.py`, rollouts to the end of the line) and by reranking a
span's alternatives (`rerank.py`, rollouts to the end of the syntax unit). The stop rules are
byte-level: the engine knows no grammar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from caveat.engine.errors import EngineCancelled
from caveat.engine.runtime import Runtime
from caveat.engine.vocab import Vocabulary
from caveat.records.measures import TokenMeasures, token_measures

FloatArray = npt.NDArray[np.float32]
# Where a rollout ends: (text so far, byte offset where each token starts) -> cut offset or None.
StopFn = Callable[[bytes, Sequence[int]], int | None]
# Picks the token of a rollout step from its logits; None means the argmax (greedy).
ChooseFn = Callable[[FloatArray], int | None]

_OPEN = b"([{"
_CLOSE = b")]}"
_QUOTES = b"'\"`"


@dataclass(frozen=True)
class Rollout:
    """A candidate and the tokens that followed it, with the measures of each lookahead step."""

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    steps: tuple[TokenMeasures, ...]
    text: bytes
    ended: bool

    @property
    def score(self) -> float:
        """Mean log-probability of candidate + lookahead (AdaDec's ranking score)."""
        return sum(self.logprobs) / len(self.logprobs)


def roll_out(
    runtime: Runtime,
    vocab: Vocabulary,
    work: FloatArray,
    context: Sequence[int],
    candidate: int,
    logprob: float,
    *,
    lookahead: int,
    stop: StopFn,
    cancel: threading.Event | None = None,
    choose: ChooseFn | None = None,
    top_k: int = 5,
) -> Rollout:
    """Append `candidate` to `context` and decode up to `lookahead` more tokens.

    The text is cut where `stop` says; tokens starting at or after the cut are dropped (the
    candidate is always kept). The cancel flag is checked before every model evaluation and
    raises EngineCancelled. Leaves the runtime holding the rollout (callers re-sync).
    """
    tokens = [candidate]
    logprobs = [logprob]
    steps: list[TokenMeasures] = []
    text = bytearray(vocab.token_bytes[candidate])
    starts = [0]
    ended = bool(vocab.is_control[candidate])
    cut = None if ended else stop(bytes(text), starts)
    if cut is not None or ended:
        kept = bytes(text[:cut]) if cut is not None else b""
        return Rollout((candidate,), (logprob,), (), kept, True)
    check_cancel(cancel)
    runtime.sync([*context, candidate])
    while len(tokens) <= lookahead:
        logits = runtime.logits()
        m = token_measures(logits, None if choose is None else choose(logits), top_k, work)
        if vocab.is_control[m.chosen]:
            ended = True
            break
        starts.append(len(text))
        text += vocab.token_bytes[m.chosen]
        tokens.append(m.chosen)
        logprobs.append(m.logprob)
        steps.append(m)
        cut = stop(bytes(text), starts)
        if cut is not None:
            trim_at(cut, starts, tokens, logprobs, steps, text)
            ended = True
            break
        if len(tokens) > lookahead:
            break
        check_cancel(cancel)
        runtime.append(m.chosen)
    return Rollout(tuple(tokens), tuple(logprobs), tuple(steps), bytes(text), ended)


def trim_at(
    cut: int,
    starts: Sequence[int],
    tokens: list[int],
    logprobs: list[float],
    steps: list[TokenMeasures],
    text: bytearray,
) -> None:
    """Drop the rollout's tokens that start at or after byte `cut` (the candidate stays)."""
    keep = max(1, sum(1 for s in starts if s < cut))
    del tokens[keep:], logprobs[keep:], steps[keep - 1 :], text[cut:]


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise EngineCancelled when `cancel` is set (before a model evaluation)."""
    if cancel is not None and cancel.is_set():
        raise EngineCancelled("rollout cancelled")


def line_stop(text: bytes, starts: Sequence[int]) -> int | None:
    """Cut after the first newline that follows some code (AdaDec: stop early at a line end)."""
    nl = text.find(b"\n", len(text) - len(text.lstrip()))
    return None if nl < 0 else nl + 1


def unit_stop(
    depth0: int = 0, rest: str = "", language: str | None = None, inner: str = ""
) -> StopFn:
    """A StopFn that cuts at the end of the syntax unit a candidate starts or continues.

    `depth0` is the bracket depth already open inside the unit before the candidate (`range(`
    has 1); the unit ends where that depth closes, where a bracket opened outside the unit
    closes, at a separator (`,` `;`, Python's `:`, a newline) on the unit's own level, or where
    the rollout starts reproducing `rest`, the document text that follows the unit. Separators
    that occur in `inner` (the rest of the original unit) belong to the unit and do not cut.
    """
    seps = b",;:" if (language or "").lower() in ("python", "py") else b",;"
    seps = bytes(c for c in seps if chr(c) not in inner)
    newline_ends = "\n" not in inner
    tail = rest.encode("utf-8").lstrip(b" \t")

    def stop(text: bytes, starts: Sequence[int]) -> int | None:
        depth, quote, escaped = depth0, 0, False
        bounds = set(starts[1:])
        for i, ch in enumerate(text):
            if i in bounds and depth == depth0 and tail and quote == 0:
                ahead = text[i:].lstrip(b" \t")
                if ahead and (tail.startswith(ahead) or ahead.startswith(tail)):
                    return i
            if quote:
                escaped = ch == 0x5C and not escaped
                if ch == quote and not escaped:
                    quote = 0
                continue
            if ch in _QUOTES:
                quote = ch
            elif ch in _OPEN:
                depth += 1
            elif ch in _CLOSE:
                depth -= 1
                if depth < 0:
                    return i
                if depth == 0 and depth0 > 0:
                    return i + 1
            elif depth == 0 and (ch in seps or (ch == 0x0A and newline_ends and text[:i].strip())):
                return i
        return None

    return stop
