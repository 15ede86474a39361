"""The engine: one model, one context, completions streamed as exact per-token records."""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt

from caveat.engine.decode import DecodeLoop
from caveat.engine.healing import HealResult, heal
from caveat.engine.lru import Lru
from caveat.engine.model import ModelInfo
from caveat.engine.overlap import MeasureOverlap
from caveat.engine.prompt import plan_prompt, uses_spm
from caveat.engine.rollout import Rollout, StopFn, check_cancel, roll_out
from caveat.engine.runtime import EngineStats, Runtime
from caveat.engine.scan import scan_tokens
from caveat.engine.types import Completion, CompletionRequest, HealingInfo
from caveat.engine.vocab import Vocabulary
from caveat.records.measures import log_partition, make_work, token_measures
from caveat.records.types import Alternative, TokenRecord

OnToken = Callable[[TokenRecord], None]

# Rows the healing memo keeps: several keystrokes' worth at DEFAULT_MAX_ROWS (8) rows each, since
# LRU over a cycle longer than its capacity keeps nothing. Stored as float32: 1 MB per row for
# a 262,144-token vocabulary.
MEMO_ROWS = 32


class RuntimeLM:
    """NextTokenLM over the engine's runtime, with a small memo of recent rows.

    KV reuse makes stems with shared prefixes cheap; the memo makes them free when the same
    rows come back, as they do on every keystroke inside a word: the stems before the word and
    the covers explored for the previous keystroke are asked for again.
    """

    def __init__(self, runtime: Runtime, memo_rows: int = MEMO_ROWS) -> None:
        self._runtime = runtime
        self._memo: Lru[tuple[int, ...], npt.NDArray[np.float32]] = Lru(memo_rows)

    def forget(self) -> None:
        """Drop the remembered rows."""
        self._memo.clear()

    def logprobs(self, context: Sequence[int]) -> npt.NDArray[np.float64]:
        """Full-vocabulary log-softmax of the token after `context`."""
        key = tuple(context)
        hit = self._memo.get(key)
        if hit is not None:
            return hit.astype(np.float64)
        self._runtime.sync(context)
        logits = self._runtime.logits().astype(np.float64)
        out: npt.NDArray[np.float64] = logits - log_partition(logits)
        self._memo.put(key, out.astype(np.float32))
        return out


class Engine:
    """Completes and scans text with one llama.cpp model. Not thread-safe: one owner thread."""

    kind = "local"

    def __init__(self, llm: llama_cpp.Llama, info: ModelInfo, *, n_batch: int = 512) -> None:
        self.llm = llm
        self.info = info
        self.vocab = Vocabulary(llm)
        self.tokenizer = self.vocab
        self.runtime = Runtime(llm, n_batch)
        self.lm = RuntimeLM(self.runtime)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab._vocab))
        self.spm = uses_spm(info.name)
        self._work = make_work(self.vocab.n_vocab)
        # Measures overlap the next forward pass only when a core is left for them.
        spare = int(getattr(llm, "n_threads", 0) or 0) < (os.cpu_count() or 1)
        self._overlap = MeasureOverlap(self.vocab.n_vocab) if spare else None
        self._ids = itertools.count(1)

    @property
    def stats(self) -> EngineStats:
        """Cumulative counters: prompt tokens evaluated and reused, decode steps."""
        return self.runtime.stats

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        return self.runtime.n_ctx

    def close(self) -> None:
        """Release llama.cpp resources."""
        if self._overlap is not None:
            self._overlap.close()
        self.runtime.close()
        self.llm.close()

    def warm_up(self) -> None:
        """Run one tiny evaluation: the first decode after loading is several times slower."""
        bos = self.info.bos if self.info.bos >= 0 else 0
        self.runtime.sync([bos])
        self.runtime.reset()

    def complete(
        self,
        req: CompletionRequest,
        *,
        cancel: threading.Event | None = None,
        on_token: OnToken | None = None,
    ) -> Completion:
        """Complete at the cursor between `req.prefix` and `req.suffix`, streaming records."""
        t0 = time.perf_counter()
        plan = plan_prompt(
            req,
            self.vocab,
            n_ctx=self.n_ctx,
            bos=self.info.bos,
            add_bos=self.add_bos,
            fim=self.info.fim,
            spm=self.spm,
        )
        head, mode = plan.head, plan.mode
        if not self.runtime.reuse:
            # Cold: nothing carries over from earlier requests, remembered rows included.
            self.runtime.reset()
            self.lm.forget()
        evaluated_before = self.stats.prompt_tokens_evaluated
        reused_before = self.stats.prompt_tokens_reused
        healed = self._heal(head, plan.fragment, req)
        prompt = (*head, *healed.tokens)
        loop = DecodeLoop(
            engine_vocab=self.vocab,
            runtime=self.runtime,
            work=self._work,
            req=req,
            prompt=prompt,
            prefix_tail=plan.prefix_tail,
            suffix=req.suffix.encode("utf-8")[:512],
            scope=mode == "prefix",
            healed=healed,
            overlap=self._overlap,
        )
        result = loop.run(cancel=cancel, on_token=on_token, t0=t0)
        return Completion(
            id=f"c{next(self._ids)}",
            text=result.text,
            records=result.records,
            prompt_mode=mode,
            stop_reason=result.stop_reason,
            timings=result.timings(),
            healing=healed.info,
            prompt_tokens=len(prompt),
            prompt_tokens_evaluated=self.stats.prompt_tokens_evaluated - evaluated_before,
            prompt_tokens_reused=self.stats.prompt_tokens_reused - reused_before,
            context=req.context,
        )

    def _heal(self, head: Sequence[int], fragment: bytes, req: CompletionRequest) -> HealResult:
        if not fragment:
            return HealResult(tokens=(), emitted=b"", records=(), info=HealingInfo(req.healing))
        passes = self.stats.forward_passes
        res = heal(head, fragment, req.healing, self.vocab, self.lm, top_k=req.top_k)
        # Rows served from the memo cost no pass: report the passes that actually ran.
        info = dataclasses.replace(res.info, extra_passes=self.stats.forward_passes - passes)
        return dataclasses.replace(res, info=info)

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes (for context budgets)."""
        return len(self.vocab.encode(text.encode("utf-8")))

    def context_tokens(self, prefix: str) -> list[int]:
        """BOS (when the model wants it) and the tokens of `prefix`."""
        bos = [self.info.bos] if self.add_bos and self.info.bos >= 0 else []
        return [*bos, *self.vocab.encode(prefix.encode("utf-8"))]

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
        """Roll each candidate after `prefix` out greedily until `stop` (see `rerank`)."""
        context = self.context_tokens(prefix)
        if len(context) + lookahead + 2 >= self.n_ctx:
            context = context[len(context) - (self.n_ctx - lookahead - 3) :]
        check_cancel(cancel)
        self.runtime.sync(context)
        logits = self.runtime.logits()
        if candidates is None:
            m = token_measures(logits, None, k, self._work)
            picked = list(zip(m.top_ids, m.top_logprobs, strict=True))
        else:
            lz = log_partition(logits)
            picked = [(c.id, float(logits[c.id]) - lz) for c in candidates[:k]]
        return [
            roll_out(
                self.runtime,
                self.vocab,
                self._work,
                context,
                tok,
                lp,
                lookahead=lookahead,
                stop=stop,
                cancel=cancel,
            )
            for tok, lp in picked
        ]

    def scan(
        self,
        text: str,
        *,
        cancel: threading.Event | None = None,
        progress: Callable[[float], None] | None = None,
        start_byte: int = 0,
    ) -> list[TokenRecord]:
        """Teacher-forced records for the tokens of `text` from `start_byte` on.

        Offsets are in `text`'s UTF-8 bytes; the text before `start_byte` is context only.
        """
        return scan_tokens(
            vocab=self.vocab,
            runtime=self.runtime,
            work=self._work,
            data=text.encode("utf-8"),
            bos=self.info.bos if self.add_bos else -1,
            cancel=cancel,
            progress=progress,
            start_byte=start_byte,
        )
