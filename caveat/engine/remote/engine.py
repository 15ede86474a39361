"""A llama.cpp server as caveat's model: completions and rollouts over HTTP, top-k records.

The prompt is planned exactly as in process (`plan_prompt`, the server's own tokens via
`/tokenize`) and sent as token ids to `/completion`, streamed, with `n_probs` raw
(pre-sampling) log-probabilities and `cache_prompt`, so the server's slots reuse their KV
cache as the user types (llama-server gives a request the slot whose cached prompt shares the
most with it). Stop rules run here, as in process; when one fires the stream is closed, which
stops the server's generation too.

FIM models get the same FIM layout as in process: the server does not report its FIM token ids,
so they are found by name (`RemoteTokenizer.fim_tokens`).

What is lost against the in-process engine: the entropy is an interval (`entropy_bounds`),
healing is classic token healing over the top `HEAL_K` tokens (byte-level healing needs full
rows), and scanning needs prompt log-probabilities, which llama-server does not return.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from caveat.engine.decode import finish_records, stream_records
from caveat.engine.healing.base import HealResult
from caveat.engine.model import ModelInfo, embedded_identity
from caveat.engine.prompt import plan_prompt, uses_spm
from caveat.engine.remote.healing import HEAL_K, heal_over_wire
from caveat.engine.remote.http import Endpoint, HttpClient, RemoteError
from caveat.engine.remote.records import RemoteStep, parse_step
from caveat.engine.remote.tokenizer import RemoteTokenizer
from caveat.engine.rollout import Rollout, StopFn, check_cancel, trim_at
from caveat.engine.runtime import EngineStats
from caveat.engine.stops import StopRules
from caveat.engine.types import (
    Completion,
    CompletionRequest,
    StopReason,
    Timings,
)
from caveat.records.measures import TokenMeasures
from caveat.records.types import Alternative, TokenRecord

log = logging.getLogger(__name__)

OnToken = Callable[[TokenRecord], None]

#: Alternatives asked for per token: more narrows the entropy interval, costs bandwidth.
WIRE_K = 20

_STOP_TYPES: dict[str, StopReason] = {"eos": "eos", "limit": "max_tokens", "word": "stop_string"}


class RemoteEngine:
    """`Backend` over a llama.cpp server (`llama-server`). One owner thread, like `Engine`."""

    kind = "llama-server"

    def __init__(self, endpoint: Endpoint, *, wire_k: int = WIRE_K) -> None:
        self.client = HttpClient(endpoint)
        self.wire_k = wire_k
        # The server's prompt cache; off makes it evaluate every prompt whole, in one batch.
        self.cache_prompt = True
        models = self.client.get("/v1/models")
        data = models.get("data") or [{}]
        meta = data[0].get("meta") or {}
        props = self._props()
        n_vocab = int(meta.get("n_vocab", 0))
        if n_vocab <= 0:
            raise RemoteError(
                f"the server at {endpoint.url} does not describe its model (no /v1/models meta); "
                "is it a llama.cpp server?"
            )
        settings = props.get("default_generation_settings") or {}
        self._n_ctx = int(settings.get("n_ctx") or meta.get("n_ctx") or 0)
        self.slots = int(props.get("total_slots") or 1)
        self.tokenizer = RemoteTokenizer(self.client, n_vocab)
        bos = self.tokenizer.bos()
        self.add_bos = bos >= 0
        name = str(data[0].get("id") or props.get("model_alias") or "remote model")
        self.model_id = name
        n_params, size = int(meta.get("n_params", 0)), int(meta.get("size", 0))
        identity = embedded_identity(n_vocab, n_params, size)
        self.info = ModelInfo(
            path=endpoint.url,
            name=identity.name if identity else name.rsplit("/", 1)[-1],
            # Calibration is keyed by file hash; a server reports none, so a model is known by
            # its shape (vocabulary, parameters, bytes) or gets the uncalibrated defaults.
            sha256=identity.sha256 if identity else f"remote-{n_vocab}-{n_params}-{size}",
            size=size,
            arch=str(meta.get("vocab_type", "")),
            n_ctx_train=int(meta.get("n_ctx_train", 0)),
            n_vocab=n_vocab,
            bos=bos,
            eos=-1,
            eot=-1,
            fim=self.tokenizer.fim_tokens(),
            embedded=False,
        )
        self.calibrated = identity is not None
        self.spm = uses_spm(name)
        self._stats = EngineStats()
        self._ids = itertools.count(1)

    def _props(self) -> dict[str, Any]:
        """llama-server's `/props` (slot context, slot count)."""
        props: dict[str, Any] = self.client.get("/props")
        return props

    @property
    def n_ctx(self) -> int:
        """The context window of one server slot, in tokens."""
        return self._n_ctx

    @property
    def stats(self) -> EngineStats:
        """Prompt tokens the server evaluated and reused, as its timings report them."""
        return self._stats

    def close(self) -> None:
        """Nothing to release: every request has its own connection."""

    def warm_up(self) -> None:
        """Check the server answers (it loaded its model before it said it was ready)."""
        self.client.get("/health")

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the server's tokenizer."""
        return len(self.tokenizer.encode(text.encode("utf-8")))

    def scan(
        self,
        text: str,
        *,
        cancel: threading.Event | None = None,
        progress: Callable[[float], None] | None = None,
        start_byte: int = 0,
    ) -> list[TokenRecord]:
        """Not possible: llama-server returns no log-probabilities for prompt tokens."""
        raise RemoteError(
            "scanning scores every token of existing text, which needs prompt "
            "log-probabilities; llama-server does not return them. Scan with the in-process "
            "engine (without --server / caveat.model.server)."
        )

    def _body(
        self,
        prompt: Sequence[int],
        n_predict: int,
        req: CompletionRequest | None,
        n_probs: int = 0,
    ) -> dict[str, Any]:
        """A streamed, greedy (or sampled, per `req`) `/completion` of `prompt`'s token ids."""
        temperature = req.temperature if req is not None else 0.0
        body: dict[str, Any] = {
            "prompt": list(prompt),
            "n_predict": max(1, n_predict),
            "n_probs": n_probs or max(self.wire_k, req.top_k if req is not None else 0),
            "post_sampling_probs": False,
            "temperature": max(0.0, temperature),
            "cache_prompt": self.cache_prompt,
            "stream": True,
        }
        if req is not None and temperature > 0:
            body.update(top_p=req.top_p, typical_p=req.typical_p, seed=req.seed, top_k=0, min_p=0.0)
        return body

    def _steps(
        self, body: dict[str, Any], cancel: threading.Event | None, final: dict[str, Any]
    ) -> Iterator[RemoteStep]:
        """Stream one `/completion`; the last event (stop type, timings) lands in `final`."""
        for event in self.client.stream("/completion", body, cancel):
            for entry in event.get("completion_probabilities") or ():
                yield parse_step(entry, self.tokenizer.pieces)
            if event.get("stop"):
                final.update(event)
                timings = event.get("timings") or {}
                self._stats.prompt_tokens_evaluated += int(timings.get("prompt_n", 0))
                self._stats.prompt_tokens_reused += int(timings.get("cache_n", 0))
                self._stats.decode_steps += int(timings.get("predicted_n", 0))
                return

    def complete(
        self,
        req: CompletionRequest,
        *,
        cancel: threading.Event | None = None,
        on_token: OnToken | None = None,
    ) -> Completion:
        """Complete at the cursor between `req.prefix` and `req.suffix`, streaming records."""
        t0 = time.perf_counter()
        if req.decoding != "greedy":
            raise RemoteError(
                f"{req.decoding} decoding reranks at every uncertain step, which over a server "
                "would be a request per step; use greedy decoding with a server"
            )
        plan = plan_prompt(
            req,
            self.tokenizer,
            n_ctx=self.n_ctx,
            bos=self.info.bos,
            add_bos=self.add_bos,
            fim=self.info.fim,
            spm=self.spm,
        )
        evaluated = self._stats.prompt_tokens_evaluated
        reused = self._stats.prompt_tokens_reused
        healed = self._heal(plan.head, plan.fragment, req)
        prompt = (*plan.head, *healed.tokens)
        rules = StopRules(
            prefix_tail=plan.prefix_tail,
            suffix=req.suffix.encode("utf-8")[:512],
            stop=tuple(s.encode("utf-8") for s in req.stop if s),
            scope=plan.mode == "prefix",
        )
        text = bytearray(healed.emitted)
        records: list[TokenRecord] = list(healed.records)
        streamed = 0

        def stream(safe: int) -> None:
            nonlocal streamed
            streamed = stream_records(text, records, streamed, safe, on_token)

        reason: StopReason = "max_tokens"
        cut: int | None = None
        first_at = 0.0
        stop = rules.check(bytes(text)) if text else None
        if stop is not None:
            reason, cut = stop.reason, stop.cut
        else:
            stream(rules.safe_length(bytes(text)))
        final: dict[str, Any] = {}
        remaining = req.max_tokens - len(records)
        if stop is None and remaining > 0:
            for step in self._steps(self._body(prompt, remaining, req), cancel, final):
                if not step.data:
                    continue  # end of generation, or a character still being assembled
                if not first_at:
                    first_at = time.perf_counter()
                records.append(step.record(len(text), req.top_k))
                text += step.data
                stop = rules.check(bytes(text))
                if stop is not None:
                    reason, cut = stop.reason, stop.cut
                    break
                stream(rules.safe_length(bytes(text)))
            if stop is None:
                reason = _STOP_TYPES.get(str(final.get("stop_type")), "max_tokens")
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
        end, records = finish_records(bytes(text), records, cut)
        del text[end:]
        streamed = min(streamed, len(records))
        stream(len(text))
        end_at = time.perf_counter()
        timings = final.get("timings") or {}
        return Completion(
            id=f"r{next(self._ids)}",
            text=bytes(text).decode("utf-8", errors="replace"),
            records=tuple(records),
            prompt_mode=plan.mode,
            stop_reason=reason,
            timings=Timings(
                prefill_ms=float(timings.get("prompt_ms", 0.0)),
                first_token_ms=(first_at - t0) * 1000 if first_at else 0.0,
                total_ms=(end_at - t0) * 1000,
                tokens_per_second=float(timings.get("predicted_per_second", 0.0))
                or _rate(len(records) - len(healed.records), first_at, end_at),
            ),
            healing=healed.info,
            prompt_tokens=len(prompt),
            prompt_tokens_evaluated=self._stats.prompt_tokens_evaluated - evaluated,
            prompt_tokens_reused=self._stats.prompt_tokens_reused - reused,
            backend=self.kind,
            context=req.context,
        )

    def _row(self, context: Sequence[int], n_probs: int) -> RemoteStep:
        """The server's top `n_probs` for the token after `context` (one decode step)."""
        for step in self._steps(self._body(context, 1, None, n_probs), None, {}):
            return step
        raise RemoteError("the server returned no probabilities (is n_probs supported?)")

    def _heal(self, head: Sequence[int], fragment: bytes, req: CompletionRequest) -> HealResult:
        """Token healing over the wire (see `caveat.engine.remote.healing`)."""
        return heal_over_wire(
            head,
            fragment,
            req,
            self.tokenizer,
            lambda context: self._row(context, HEAL_K),
            self.info.n_vocab,
        )

    def roll_candidates(
        self,
        prefix: str,
        candidates: Sequence[Alternative] | None,
        *,
        k: int,
        lookahead: int,
        stop: StopFn,
        cancel: threading.Event | None = None,
    ) -> list[Rollout]:
        """Each candidate after `prefix` rolled out greedily by the server until `stop`."""
        bos = [self.info.bos] if self.add_bos else []
        context = [*bos, *self.tokenizer.encode(prefix.encode("utf-8"))]
        if len(context) + lookahead + 2 >= self.n_ctx:
            context = context[len(context) - (self.n_ctx - lookahead - 3) :]
        check_cancel(cancel)
        row = self._row(context, max(self.wire_k, k))
        scored = {a.id: a.logprob for a in row.top}
        if candidates is None:
            picked = [(a.id, a.logprob) for a in row.top[:k]]
        else:
            # A candidate outside the server's top list keeps the log-probability it came with.
            picked = [(c.id, scored.get(c.id, c.logprob)) for c in candidates[:k]]
        return [self._roll(context, tok, lp, lookahead, stop, cancel) for tok, lp in picked]

    def _roll(
        self,
        context: Sequence[int],
        candidate: int,
        logprob: float,
        lookahead: int,
        stop: StopFn,
        cancel: threading.Event | None,
    ) -> Rollout:
        text = bytearray(self.tokenizer.pieces[candidate])
        starts = [0]
        cut = stop(bytes(text), starts) if text else None
        if cut is not None or not text:
            return Rollout((candidate,), (logprob,), (), bytes(text[:cut]) if text else b"", True)
        check_cancel(cancel)
        tokens, logprobs = [candidate], [logprob]
        steps: list[TokenMeasures] = []
        ended = False
        final: dict[str, Any] = {}
        for step in self._steps(self._body([*context, candidate], lookahead, None), cancel, final):
            if not step.data:
                continue
            starts.append(len(text))
            text += step.data
            tokens.append(step.measures.chosen)
            logprobs.append(step.measures.logprob)
            steps.append(step.measures)
            cut = stop(bytes(text), starts)
            if cut is not None:
                trim_at(cut, starts, tokens, logprobs, steps, text)
                ended = True
                break
        check_cancel(cancel)
        if final.get("stop_type") == "eos":
            ended = True
        return Rollout(tuple(tokens), tuple(logprobs), tuple(steps), bytes(text), ended)


def _rate(tokens: int, first_at: float, end_at: float) -> float:
    """Tokens per second seen here, for a stream closed before the server's own timings."""
    if tokens < 2 or not first_at or end_at <= first_at:
        return 0.0
    return (tokens - 1) / (end_at - first_at)
