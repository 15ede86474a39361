"""An OpenAI-compatible `/v1/completions` server as caveat's model.

The request is the OpenAI legacy completions API (`prompt` as token ids, `max_tokens`,
`logprobs: k`, `stream`); the answer's `logprobs` is read in both shapes engines use: llama.cpp's
(`logprobs.content`, entries with ids and bytes) and the OpenAI/vLLM one (`tokens`,
`token_logprobs`, `top_logprobs`), where a token is `token_id:N` when the server is asked for
ids (vLLM's `return_tokens_as_token_ids`) and its text otherwise. Prompts are still laid out as
the server's token ids, so the server must also offer llama.cpp's `/tokenize`; an API key goes
in the `Authorization` header.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from caveat.engine.remote.engine import RemoteEngine
from caveat.engine.remote.http import RemoteError
from caveat.engine.remote.records import RemoteStep, make_step, parse_step
from caveat.engine.remote.tokenizer import PieceTable
from caveat.engine.types import CompletionRequest
from caveat.records.types import Alternative

_FINISH = {"stop": "eos", "length": "limit"}


class OpenAIEngine(RemoteEngine):
    """`Backend` over an OpenAI-compatible completions endpoint."""

    kind = "openai"

    def _props(self) -> dict[str, Any]:
        # Not part of the OpenAI API: llama.cpp serves it, others may not.
        try:
            return super()._props()
        except RemoteError:
            return {}

    def _body(
        self,
        prompt: Sequence[int],
        n_predict: int,
        req: CompletionRequest | None,
        n_probs: int = 0,
    ) -> dict[str, Any]:
        temperature = req.temperature if req is not None else 0.0
        body: dict[str, Any] = {
            "model": self.model_id,
            "prompt": list(prompt),
            "max_tokens": max(1, n_predict),
            "logprobs": n_probs or max(self.wire_k, req.top_k if req is not None else 0),
            "temperature": max(0.0, temperature),
            "stream": True,
            # Raw log-probabilities and ids where the server knows these options (llama.cpp,
            # vLLM); the OpenAI API ignores what it does not define.
            "post_sampling_probs": False,
            "return_tokens_as_token_ids": True,
            "cache_prompt": self.cache_prompt,
        }
        if req is not None and temperature > 0:
            body.update(top_p=req.top_p, seed=req.seed)
        return body

    def _steps(
        self, body: dict[str, Any], cancel: threading.Event | None, final: dict[str, Any]
    ) -> Iterator[RemoteStep]:
        """Stream one `/v1/completions`; the finish reason and usage land in `final`."""
        for event in self.client.stream("/v1/completions", body, cancel):
            choices = event.get("choices") or [{}]
            choice = choices[0]
            yield from parse_logprobs(choice.get("logprobs"), self.tokenizer.pieces)
            reason = choice.get("finish_reason")
            if reason:
                final["stop_type"] = _FINISH.get(str(reason), str(reason))
                timings = event.get("timings") or {}
                self._stats.prompt_tokens_evaluated += int(timings.get("prompt_n", 0))
                self._stats.prompt_tokens_reused += int(timings.get("cache_n", 0))
                final["timings"] = timings
                return


def parse_logprobs(logprobs: Any, pieces: PieceTable) -> Iterator[RemoteStep]:
    """The steps in one choice's `logprobs`, in llama.cpp's shape or the OpenAI one."""
    if not isinstance(logprobs, Mapping):
        return
    if "content" in logprobs:
        for entry in logprobs.get("content") or ():
            yield parse_step(entry, pieces)
        return
    tokens = logprobs.get("tokens") or []
    chosen_lps = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    for i, token in enumerate(tokens):
        chosen, data = _token(str(token), pieces)
        lp = float(chosen_lps[i]) if i < len(chosen_lps) and chosen_lps[i] is not None else 0.0
        top = []
        for text, alt_lp in (tops[i] if i < len(tops) and tops[i] else {}).items():
            tid, raw = _token(str(text), pieces)
            top.append(Alternative(tid, raw, float(alt_lp)))
        yield make_step(chosen, lp, data, top, len(pieces))


def _token(text: str, pieces: PieceTable) -> tuple[int, bytes]:
    """A token as the OpenAI shape names it: `token_id:N` (bytes from the tokenizer) or text."""
    if text.startswith("token_id:"):
        tid = int(text.split(":", 1)[1])
        return tid, pieces[tid]
    # Without ids the token is known by its text only; -1 marks the id as unknown.
    return -1, text.encode("utf-8")
