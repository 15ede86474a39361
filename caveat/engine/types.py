"""Core value types shared by the engine, scoring, grammars and the server.

All are frozen dataclasses: a completion is a snapshot that moves forward through the pipeline
and is never mutated on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
class Alternative:
    """One candidate next token with its log-probability under the full distribution."""

    id: int
    bytes: bytes
    logprob: float

    @property
    def text(self) -> str:
        """The token's bytes decoded leniently (a lone UTF-8 fragment shows as U+FFFD)."""
        return self.bytes.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class TokenRecord:
    """One generated (or teacher-forced) token and the exact uncertainty of its step.

    `offset` is the byte offset of the token's first byte in the completion text (or, for a
    scan, in the scanned document's UTF-8). `entropy` is in nats over the full vocabulary;
    `margin` is log p(top1) - log p(top2); `top` is sorted best first.
    """

    id: int
    bytes: bytes
    offset: int
    logprob: float
    entropy: float
    margin: float
    top: tuple[Alternative, ...]

    @property
    def text(self) -> str:
        """The token's bytes decoded leniently."""
        return self.bytes.decode("utf-8", errors="replace")

    @property
    def end(self) -> int:
        """Byte offset one past the token's last byte."""
        return self.offset + len(self.bytes)


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
    seed: int = 0
    stop: tuple[str, ...] = ()
    top_k: int = 5
    # greedy: argmax (or sampling with temperature); adaptive: AdaDec pause-then-rerank at
    # steps whose entropy reaches the threshold; cautious: CNTP multi-trial sampling there.
    decoding: DecodingMode = "greedy"
    # Entropy threshold (nats) for adaptive/cautious; None = the model's calibrated one.
    entropy_threshold: float | None = None


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
