"""The decode loop: one token per step, exact measures per token, stop rules, streaming.

Decoding strategies (`CompletionRequest.decoding`): `greedy` takes the argmax (or samples with a
temperature) at every step. `adaptive` is AdaDec's pause-then-rerank ("Towards Better Code
Generation: Adaptive Decoding with Uncertainty Guidance"): at a step whose entropy reaches the
threshold, the top candidates are rolled out to the end of the line and the one with the best
mean log-probability is taken. `cautious` follows "Cautious Next Token Prediction": at such a
step, several sampled trials run to the next punctuation and the one with the lowest
perplexity is kept. Both accept the winner's rollout tokens that the loop would have produced
anyway, so the rollout work is not repeated.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from caveat.engine.errors import EngineCancelled
from caveat.engine.healing import HealResult
from caveat.engine.overlap import MeasureOverlap
from caveat.engine.records import make_record
from caveat.engine.rollout import Rollout, line_stop, roll_out
from caveat.engine.runtime import ContextFullError, Runtime
from caveat.engine.stops import StopRules
from caveat.engine.textutil import utf8_complete_length
from caveat.engine.types import CompletionRequest, StopReason, Timings
from caveat.engine.vocab import Vocabulary
from caveat.records.measures import TokenMeasures, log_partition, token_measures
from caveat.records.types import TokenRecord

OnToken = Callable[[TokenRecord], None]

# AdaDec: k candidates, L lookahead tokens (both the paper's defaults). Candidates far less
# likely than the top one rarely win and each costs L evaluations, so they are skipped.
#: AdaDec's H* when a request names none (the builtin `Thresholds.entropy`, in nats).
DEFAULT_ENTROPY_THRESHOLD = 1.0
ADAPTIVE_K = 3
ADAPTIVE_LOOKAHEAD = 5
ADAPTIVE_MIN_RATIO = 0.1
# Budget: rollout evaluations the completion did not keep may reach this share of the tokens
# generated so far (a trigger is allowed while under it, and one trigger may overshoot it), so
# adaptive decoding stays near 1.5x greedy's model evaluations where uncertain steps abound.
ROLLOUT_BUDGET = 0.35
# CNTP: trials grow with entropy (1 + ceil(H / H*), at most this many), sampled at T = 1.
CAUTIOUS_MAX_TRIALS = 5
CAUTIOUS_LOOKAHEAD = 8
CAUTIOUS_TOP_P = 0.95
_PUNCT = frozenset(b".,;:()[]{}\n")
# Returned by `_choose` with measures that were already computed (no logits needed after).
_NO_LOGITS: npt.NDArray[np.float32] = np.empty(0, dtype=np.float32)


@dataclass
class DecodeResult:
    """What the loop produced, before it is wrapped into a Completion."""

    text: str
    records: tuple[TokenRecord, ...]
    stop_reason: StopReason
    t0: float
    prefill_at: float
    first_token_at: float
    end_at: float
    generated: int

    def timings(self) -> Timings:
        """Phase timings in milliseconds, and decode speed."""
        decode_s = max(self.end_at - self.prefill_at, 1e-9)
        first = (self.first_token_at - self.t0) * 1000 if self.first_token_at else 0.0
        return Timings(
            prefill_ms=(self.prefill_at - self.t0) * 1000,
            first_token_ms=first,
            total_ms=(self.end_at - self.t0) * 1000,
            tokens_per_second=self.generated / decode_s if self.generated else 0.0,
        )


def sample_token(
    logits: npt.NDArray[np.float32],
    temperature: float,
    top_p: float,
    rng: np.random.Generator,
    typical_p: float = 1.0,
) -> int:
    """Draw a token with temperature, locally typical (typical-p) and nucleus (top-p) sampling.

    Locally typical sampling (Meister et al., "Locally Typical Sampling", 2023) keeps the tokens
    whose surprisal is closest to the step's entropy, as few as reach `typical_p` of the mass.
    Only the draw changes: records still carry the full distribution's measures.
    """
    scaled = logits.astype(np.float64) / max(temperature, 1e-6)
    scaled -= scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    if typical_p < 1.0:
        probs = _keep_mass(probs, typical_order(probs), typical_p)
    if top_p < 1.0:
        probs = _keep_mass(probs, np.argsort(-probs), top_p)
    return int(rng.choice(probs.shape[0], p=probs))


def typical_order(probs: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Token ids by |surprisal - entropy|, the most typical first."""
    with np.errstate(divide="ignore"):
        surprisal = -np.log(probs)
    entropy = float(np.sum(probs[probs > 0] * surprisal[probs > 0]))
    return np.argsort(np.abs(surprisal - entropy), kind="stable")


def _keep_mass(
    probs: npt.NDArray[np.float64], order: npt.NDArray[np.intp], mass: float
) -> npt.NDArray[np.float64]:
    """`probs` renormalized over the first tokens of `order` that reach `mass` (at least one)."""
    cum = np.cumsum(probs[order])
    keep = order[: int(np.searchsorted(cum, mass)) + 1]
    out: npt.NDArray[np.float64] = np.zeros_like(probs)
    out[keep] = probs[keep]
    out /= out.sum()
    return out


class DecodeLoop:
    """Evaluates the prompt, generates until a stop rule fires; streams safe records."""

    def __init__(
        self,
        *,
        engine_vocab: Vocabulary,
        runtime: Runtime,
        work: npt.NDArray[np.float32],
        req: CompletionRequest,
        prompt: Sequence[int],
        prefix_tail: bytes,
        suffix: bytes,
        scope: bool,
        healed: HealResult,
        overlap: MeasureOverlap | None = None,
    ) -> None:
        self.vocab = engine_vocab
        self.runtime = runtime
        self.work = work
        self.overlap = overlap
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
        # Context + healed cover: the loop evaluates it first; rollouts start from it.
        self.prompt = tuple(prompt)
        self.ids: list[int] = []
        self.pending: deque[TokenMeasures] = deque()
        self.stale = False  # the cache no longer ends at prompt + ids (a rollout moved it)
        self.extra_evals = 0  # rollout evaluations beyond the tokens the completion kept
        self.rng = np.random.default_rng(req.seed)
        self.threshold = math.inf
        if req.decoding != "greedy":
            self.threshold = (
                DEFAULT_ENTROPY_THRESHOLD
                if req.entropy_threshold is None
                else req.entropy_threshold
            )

    def run(
        self, *, cancel: threading.Event | None, on_token: OnToken | None, t0: float
    ) -> DecodeResult:
        """Decode until EOS, a stop rule, max tokens, a full context or cancellation.

        Raises ContextFullError when the prompt itself does not fit.
        """
        req = self.req
        reason: StopReason = "max_tokens"
        cut: int | None = None
        first_at = 0.0
        generated = 0
        stop = self.rules.check(bytes(self.text)) if self.text else None
        if stop is not None:
            reason, cut = stop.reason, stop.cut
        else:
            # Healing already chose the first bytes past the cursor from rows it read: they
            # reach the editor before the prompt's forward pass, not after it.
            self._stream(self.rules.safe_length(bytes(self.text)), on_token)
        self.runtime.sync(self.prompt)
        prefill_at = time.perf_counter()
        while stop is None:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            if len(self.records) >= req.max_tokens:
                break
            try:
                chosen, measured, logits = self._choose(cancel)
            except EngineCancelled:
                reason = "cancelled"
                break
            except ContextFullError:
                reason = "context_full"
                break
            if self.vocab.is_control[chosen]:
                reason = "eos"
                break
            offset = len(self.text)
            self.text += self.vocab.token_bytes[chosen]
            self.ids.append(chosen)
            stop = self.rules.check(bytes(self.text))
            # Planned tokens (a rerank's rollout) are not evaluated one by one: the cache is
            # re-synced when the plan runs out.
            # The last token allowed is never evaluated: nothing would read its logits.
            last = len(self.records) + 1 >= req.max_tokens
            advance = stop is None and not (self.stale or self.pending or last)
            full = False
            evaluated = False
            if measured is not None:
                m = measured
            elif advance and generated and self.overlap is not None:
                # Not for the first token: its record should stream before the next pass.
                m, full = self._append_measuring(chosen, logits)
                evaluated = True
            else:
                m = token_measures(logits, chosen, req.top_k, self.work)
            generated += 1
            if not first_at:
                first_at = time.perf_counter()
            self.records.append(make_record(m, self.vocab, offset))
            if stop is not None:
                reason, cut = stop.reason, stop.cut
                break
            # Stream before evaluating the token: the editor sees it one forward pass sooner.
            self._stream(self.rules.safe_length(bytes(self.text)), on_token)
            if advance and not evaluated:
                full = self._append(chosen)
            if full:
                reason = "context_full"
                break
            if not advance:
                self.stale = True
        final = self._finish(cut)
        self._stream(len(self.text), on_token)
        return DecodeResult(
            text=final,
            records=tuple(self.records),
            stop_reason=reason,
            t0=t0,
            prefill_at=prefill_at,
            first_token_at=first_at,
            end_at=time.perf_counter(),
            generated=generated,
        )

    def _choose(
        self, cancel: threading.Event | None
    ) -> tuple[int, TokenMeasures | None, npt.NDArray[np.float32]]:
        """The next token, its measures when choosing needed them, and the step's logits."""
        plain = not (self.pending or self.stale) and self.threshold == math.inf
        if not plain:
            m = self._next(cancel)
            return m.chosen, m, _NO_LOGITS
        logits = self.runtime.logits()
        req = self.req
        if req.temperature > 0:
            return (
                sample_token(logits, req.temperature, req.top_p, self.rng, req.typical_p),
                None,
                logits,
            )
        # np.argmax takes the first maximum: the lowest id on ties, as token_measures does.
        return int(np.argmax(logits)), None, logits

    def _append(self, chosen: int) -> bool:
        """Evaluate `chosen`; True when the context is full instead."""
        try:
            self.runtime.append(chosen)
        except ContextFullError:
            return True
        return False

    def _append_measuring(
        self, chosen: int, logits: npt.NDArray[np.float32]
    ) -> tuple[TokenMeasures, bool]:
        """Evaluate `chosen` while its measures are computed on the overlap thread."""
        assert self.overlap is not None
        full = False

        def evaluate() -> None:
            nonlocal full
            full = self._append(chosen)

        m = self.overlap.measure_during(logits, chosen, self.req.top_k, evaluate)
        return m, full

    def _next(self, cancel: threading.Event | None) -> TokenMeasures:
        """The measures of the next token: planned by a rerank, or decided at this step."""
        if self.pending:
            return self.pending.popleft()
        if self.stale:
            self.runtime.sync((*self.prompt, *self.ids))
            self.stale = False
        req = self.req
        logits = self.runtime.logits()
        chosen = (
            None
            if req.temperature <= 0
            else sample_token(logits, req.temperature, req.top_p, self.rng, req.typical_p)
        )
        m = token_measures(logits, chosen, req.top_k, self.work)
        if m.entropy < self.threshold or self.vocab.is_control[m.chosen]:
            return m
        if self.extra_evals > ROLLOUT_BUDGET * len(self.ids):
            return m
        before = self.runtime.stats.forward_passes
        if req.decoding == "adaptive":
            plan = self._plan_adaptive(m, cancel)
        else:
            plan = self._plan_cautious(m, logits.copy(), cancel)
        # The kept tokens would each have cost one evaluation anyway (the last one is due next).
        spent = self.runtime.stats.forward_passes - before
        self.extra_evals += max(0, spent - (len(plan) - 1))
        self.pending.extend(plan[1:])
        self.stale = True
        return plan[0]

    def _plan_adaptive(
        self, m: TokenMeasures, cancel: threading.Event | None
    ) -> list[TokenMeasures]:
        """AdaDec: roll the top candidates out to the line end, take the best mean logprob."""
        floor = m.top_logprobs[0] + math.log(ADAPTIVE_MIN_RATIO)
        cands = [(t, lp) for t, lp in zip(m.top_ids, m.top_logprobs, strict=True) if lp >= floor]
        cands = cands[:ADAPTIVE_K]
        if len(cands) < 2:
            return [m]
        context = (*self.prompt, *self.ids)
        rollouts: dict[int, Rollout] = {}
        # The top candidate goes last: it wins most often, and its rollout stays in the cache.
        for tok, lp in (*cands[1:], cands[0]):
            rollouts[tok] = self._roll(context, tok, lp, ADAPTIVE_LOOKAHEAD, line_stop, cancel)
        best_tok, best_lp = cands[0]
        for tok, lp in cands[1:]:
            if rollouts[tok].score > rollouts[best_tok].score:
                best_tok, best_lp = tok, lp
        plan = [dataclasses.replace(m, chosen=best_tok, logprob=best_lp)]
        if self.req.temperature <= 0:
            # Low-entropy rollout steps are exactly what the loop would decode next.
            for step in rollouts[best_tok].steps:
                if step.entropy >= self.threshold:
                    break
                plan.append(step)
        return plan

    def _plan_cautious(
        self, m: TokenMeasures, logits: npt.NDArray[np.float32], cancel: threading.Event | None
    ) -> list[TokenMeasures]:
        """CNTP: sample trials to the next punctuation; keep the lowest-perplexity one."""
        n = min(CAUTIOUS_MAX_TRIALS, 1 + math.ceil(m.entropy / max(self.threshold, 1e-6)))
        x = logits.astype(np.float64)
        log_z = log_partition(x)
        context = (*self.prompt, *self.ids)
        best: Rollout | None = None
        for _ in range(n):
            tok = sample_token(logits, 1.0, CAUTIOUS_TOP_P, self.rng)
            r = self._roll(
                context,
                tok,
                float(x[tok]) - log_z,
                CAUTIOUS_LOOKAHEAD,
                _punct_stop,
                cancel,
                sample=True,
            )
            if best is None or r.score > best.score:
                best = r
        assert best is not None
        first = dataclasses.replace(m, chosen=best.tokens[0], logprob=best.logprobs[0])
        return [first, *best.steps]

    def _roll(
        self,
        context: Sequence[int],
        tok: int,
        lp: float,
        lookahead: int,
        stop: Callable[[bytes, Sequence[int]], int | None],
        cancel: threading.Event | None,
        *,
        sample: bool = False,
    ) -> Rollout:
        rng = self.rng

        def choose(row: npt.NDArray[np.float32]) -> int:
            return sample_token(row, 1.0, CAUTIOUS_TOP_P, rng)

        return roll_out(
            self.runtime,
            self.vocab,
            self.work,
            context,
            tok,
            lp,
            lookahead=lookahead,
            stop=stop,
            cancel=cancel,
            choose=choose if sample else None,
            top_k=self.req.top_k,
        )

    def _stream(self, safe: int, on_token: OnToken | None) -> None:
        """Hand out records whose bytes end inside the safe, character-complete prefix."""
        self.streamed = stream_records(self.text, self.records, self.streamed, safe, on_token)

    def _finish(self, cut: int | None) -> str:
        """Apply the stop cut, drop trailing blank lines and a split character; return text."""
        end, self.records = finish_records(bytes(self.text), self.records, cut)
        del self.text[end:]
        self.streamed = min(self.streamed, len(self.records))
        return bytes(self.text).decode("utf-8", errors="replace")


def stream_records(
    text: bytes | bytearray,
    records: Sequence[TokenRecord],
    streamed: int,
    safe: int,
    on_token: OnToken | None,
) -> int:
    """Hand `records[streamed:]` that end inside the safe, character-complete prefix of `text`
    to `on_token`; return how many records have been handed out in all."""
    limit = utf8_complete_length(text, safe)
    while streamed < len(records) and records[streamed].end <= limit:
        if on_token is not None:
            on_token(records[streamed])
        streamed += 1
    return streamed


def finish_records(
    text: bytes, records: Sequence[TokenRecord], cut: int | None
) -> tuple[int, list[TokenRecord]]:
    """Where a completion's text ends, and its records trimmed to that end.

    Applies the stop cut, drops trailing blank lines and a character split at the end; a record
    that straddles the end keeps only its bytes before it.
    """
    end = len(text) if cut is None else cut
    stripped = text[:end].rstrip(b" \t\r\n")
    if b"\n" in text[len(stripped) : end]:
        end = len(stripped)
    end = utf8_complete_length(text, end)
    kept: list[TokenRecord] = []
    for rec in records:
        if rec.offset >= end:
            break
        if rec.end > end:
            rec = dataclasses.replace(rec, bytes=rec.bytes[: end - rec.offset])
        kept.append(rec)
    return end, kept


def _punct_stop(text: bytes, starts: Sequence[int]) -> int | None:
    """Cut after the token holding the first punctuation mark (CNTP's trial length)."""
    at = next((i for i, ch in enumerate(text) if ch in _PUNCT), None)
    if at is None:
        return None
    return next((s for s in starts if s > at), len(text))
