"""Value types of the engine: requests, completions, healing and timings.

All are frozen dataclasses: a completion is a snapshot that moves forward through the pipeline
and is never mutated on the way. Token records are `caveat.records.types`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from caveat.engine.context import RepoContext
from caveat.records.types import TokenRecord

HealingMode = Literal["byte", "token", "none"]
PromptMode = Literal["fim", "prefix"]
DecodingMode = Literal["greedy", "adaptive", "cautious"]
StopReason = Literal[
    "eos",
    "max_tokens",
    "stop_string",
    "suffix_overlap",
    "repetition",
    "scope",
    "cancelled",
    "context_full",
]


@dataclass(frozen=True)
class HealingInfo:
    """How the prompt's trailing fragment was healed (mode `none`: nothing was done)."""

    mode: HealingMode
    fragment: bytes = b""
    cover: tuple[int, ...] = ()
    cover_text: str = ""
    candidates: int = 0
    # Next-token rows healing consulted, and the forward passes it ran for them (fewer when
    # the engine remembers rows from earlier requests).
    rows: int = 0
    extra_passes: int = 0
    ms: float = 0.0


@dataclass(frozen=True)
class Timings:
    """Wall-clock milliseconds for the phases of one request."""

    queue_ms: float = 0.0
    prefill_ms: float = 0.0
    first_token_ms: float = 0.0
    total_ms: float = 0.0
    tokens_per_second: float = 0.0


@dataclass(frozen=True)
class CompletionRequest:
    """What to complete: the document text around the cursor and how to decode."""

    prefix: str
    suffix: str = ""
    language: str | None = None
    max_tokens: int = 64
    healing: HealingMode = "none"
    temperature: float = 0.0
    top_p: float = 1.0
    # Locally typical sampling's mass (1.0 = off); used only when temperature > 0.
    typical_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    top_k: int = 5
    # greedy: argmax (or sampling with temperature); adaptive: AdaDec pause-then-rerank at
    # steps whose entropy reaches the threshold; cautious: CNTP multi-trial sampling there.
    decoding: DecodingMode = "greedy"
    # Entropy threshold (nats) for adaptive/cautious: the model's calibrated AdaDec H*
    # (`Thresholds.entropy`, which callers load); None = DEFAULT_ENTROPY_THRESHOLD.
    entropy_threshold: float | None = None
    # Chunks of other files to lay out before the prefix (`caveat.engine.context`); None = none.
    context: RepoContext | None = None


@dataclass(frozen=True)
class Completion:
    """A finished completion: its text, one record per token, and how it was produced."""

    id: str
    text: str
    records: tuple[TokenRecord, ...]
    prompt_mode: PromptMode
    stop_reason: StopReason
    timings: Timings
    healing: HealingInfo = field(default_factory=lambda: HealingInfo(mode="none"))
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0
    prompt_tokens_reused: int = 0
    # Which backend produced the records: "local" (exact entropy) or a serving engine's API
    # (records then carry entropy bounds from the top k).
    backend: str = "local"
    # The repository context the request laid out before the file's text (None = none).
    context: RepoContext | None = None
