"""The decode loop: one token per step, exact measures per token, stop rules, streaming."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from caveat.engine.healing import HealResult
from caveat.engine.records import make_record
from caveat.engine.runtime import ContextFullError, Runtime
from caveat.engine.stops import StopRules
from caveat.engine.textutil import utf8_complete_length
from caveat.engine.types import CompletionRequest, StopReason, Timings, TokenRecord
from caveat.engine.vocab import Vocabulary
from caveat.scoring.measures import token_measures

OnToken = Callable[[TokenRecord], None]


@dataclass
class DecodeResult:
    """What the loop produced, before it is wrapped into a Completion."""

    text: str
    records: tuple[TokenRecord, ...]
    stop_reason: StopReason
    t0: float
    first_token_at: float
    end_at: float
    generated: int

    def timings(self, prefill_ms: float) -> Timings:
        """Phase timings in milliseconds, and decode speed."""
        decode_s = max(self.end_at - (self.t0 + prefill_ms / 1000), 1e-9)
        first = (self.first_token_at - self.t0) * 1000 if self.first_token_at else 0.0
        return Timings(
            prefill_ms=prefill_ms,
            first_token_ms=first,
            total_ms=(self.end_at - self.t0) * 1000,
            tokens_per_second=self.generated / decode_s if self.generated else 0.0,
        )


def sample_token(
    logits: npt.NDArray[np.float32], temperature: float, top_p: float, rng: np.random.Generator
) -> int:
    """Draw a token with temperature and nucleus (top-p) sampling."""
    scaled = logits.astype(np.float64) / max(temperature, 1e-6)
    scaled -= scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs)
        cum = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cum, top_p)) + 1]
        mask = np.zeros_like(probs)
        mask[keep] = probs[keep]
        probs = mask / mask.sum()
    return int(rng.choice(probs.shape[0], p=probs))


class DecodeLoop:
    """Generates after the synced prompt until a stop rule fires; streams safe records."""

    def __init__(
        self,
        *,
        engine_vocab: Vocabulary,
        runtime: Runtime,
        work: npt.NDArray[np.float32],
        req: CompletionRequest,
        prefix_tail: bytes,
        suffix: bytes,
        scope: bool,
        healed: HealResult,
    ) -> None:
        self.vocab = engine_vocab
        self.runtime = runtime
        self.work = work
        self.req = req
        self.rules = StopRules(
            prefix_tail=prefix_tail,
            suffix=suffix,
            stop=tuple(s.encode("utf-8") for s in req.stop if s),
            scope=scope,
        )
        self.text = bytearray(healed.emitted)
        self.records: list[TokenRecord] = list(healed.records)
        self.streamed = 0

    def run(
        self, *, cancel: threading.Event | None, on_token: OnToken | None, t0: float
    ) -> DecodeResult:
        """Decode until EOS, a stop rule, max tokens, a full context or cancellation."""
        req = self.req
        rng = np.random.default_rng(req.seed)
        reason: StopReason = "max_tokens"
        cut: int | None = None
        first_at = 0.0
        generated = 0
        stop = self.rules.check(bytes(self.text)) if self.text else None
        if stop is not None:
            reason, cut = stop.reason, stop.cut
        while stop is None:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            if len(self.records) >= req.max_tokens:
                break
            logits = self.runtime.logits()
            chosen = (
                None
                if req.temperature <= 0
                else sample_token(logits, req.temperature, req.top_p, rng)
            )
            m = token_measures(logits, chosen, req.top_k, self.work)
            if self.vocab.is_control[m.chosen]:
                reason = "eos"
                break
            rec = make_record(m, self.vocab, len(self.text))
            generated += 1
            if not first_at:
                first_at = time.perf_counter()
            self.text += rec.bytes
            self.records.append(rec)
            stop = self.rules.check(bytes(self.text))
            if stop is not None:
                reason, cut = stop.reason, stop.cut
                break
            self._stream(self.rules.safe_length(bytes(self.text)), on_token)
            try:
                self.runtime.append(m.chosen)
            except ContextFullError:
                reason = "context_full"
                break
        final = self._finish(cut)
        self._stream(len(self.text), on_token)
        return DecodeResult(
            text=final,
            records=tuple(self.records),
            stop_reason=reason,
            t0=t0,
            first_token_at=first_at,
            end_at=time.perf_counter(),
            generated=generated,
        )

    def _stream(self, safe: int, on_token: OnToken | None) -> None:
        """Hand out records whose bytes end inside the safe, character-complete prefix."""
        limit = utf8_complete_length(self.text, safe)
        while self.streamed < len(self.records) and self.records[self.streamed].end <= limit:
            if on_token is not None:
                on_token(self.records[self.streamed])
            self.streamed += 1

    def _finish(self, cut: int | None) -> str:
        """Apply the stop cut, drop trailing blank lines and a split character; return text."""
        end = len(self.text) if cut is None else cut
        stripped = bytes(self.text[:end]).rstrip(b" \t\r\n")
        if b"\n" in self.text[len(stripped) : end]:
            end = len(stripped)
        end = utf8_complete_length(self.text, end)
        kept: list[TokenRecord] = []
        for rec in self.records:
            if rec.offset >= end:
                break
            if rec.end > end:
                rec = dataclasses.replace(rec, bytes=rec.bytes[: end - rec.offset])
            kept.append(rec)
        self.records = kept
        del self.text[end:]
        self.streamed = min(self.streamed, len(kept))
        return bytes(self.text).decode("utf-8", errors="replace")
