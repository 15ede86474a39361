"""The token record and its alternatives: what one step of a model run leaves behind.

Frozen dataclasses, produced by the engine (decoding or scanning) and read by scoring, the
annotate layer, the server and the commands.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    `margin` is log p(top1) - log p(top2); `top` is sorted best first. A serving engine returns
    only the top k, so a record it produced has `entropy_bounds` (low, high) and `entropy` is the
    low bound (`caveat.records.measures.entropy_bounds`); None means the entropy is exact.
    """

    id: int
    bytes: bytes
    offset: int
    logprob: float
    entropy: float
    margin: float
    top: tuple[Alternative, ...]
    entropy_bounds: tuple[float, float] | None = None

    @property
    def text(self) -> str:
        """The token's bytes decoded leniently."""
        return self.bytes.decode("utf-8", errors="replace")

    @property
    def end(self) -> int:
        """Byte offset one past the token's last byte."""
        return self.offset + len(self.bytes)
