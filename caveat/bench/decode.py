"""`caveat bench decode`: decode speed with full uncertainty records vs a bare greedy loop.

Both loops run in one process on one model over the same prompts, alternating which goes first,
so machine noise hits both alike; the ratio is what matters.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import llama_cpp
import numpy as np

from caveat.commands.common import add_model_args, load_or_fail
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest
from caveat.records.measures import make_work, token_measures

_PROMPTS = (
    "def fibonacci(n):\n    ",
    "import os\n\ndef list_python_files(root):\n    ",
    "class Stack:\n    def __init__(self):\n        ",
    "def parse_csv_line(line, sep=','):\n    ",
    "function debounce(fn, ms) {\n  ",
    "fn main() {\n    let v = vec![1, 2, 3];\n    ",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench decode`."""
    p = sub.add_parser("decode", help="tokens/s with full records vs a bare greedy loop")
    add_model_args(p)
    p.add_argument("--quick", action="store_true", help="fewer prompts and tokens")
    p.add_argument("--tokens", type=int, default=96, help="tokens per run")
    p.add_argument("--rounds", type=int, default=3, help="passes over the prompts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def bare_greedy(engine: Engine, prompt: str, n: int) -> tuple[int, float]:
    """llama-cpp-python's own eval with argmax only; returns (tokens, decode seconds)."""
    llm = engine.llm
    engine.runtime.reset()
    llm.reset()  # type: ignore[no-untyped-call]
    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=False)
    llm.eval(tokens)
    ctx = llm.ctx
    n_vocab = llm.n_vocab()
    t = time.perf_counter()
    for _ in range(n):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        llm.eval([int(np.argmax(logits))])
    elapsed = time.perf_counter() - t
    llm.reset()  # type: ignore[no-untyped-call]
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    return n, elapsed


def caveat_loop(engine: Engine, prompt: str, n: int) -> tuple[int, float]:
    """engine.complete with full records; returns (tokens, decode seconds)."""
    engine.runtime.reset()
    c = engine.complete(CompletionRequest(prefix=prompt, max_tokens=n, healing="none"))
    generated = len(c.records)
    rate = c.timings.tokens_per_second
    return generated, generated / rate if rate else 0.0


def measures_cost_ms(n_vocab: int, repeat: int = 50) -> tuple[float, float]:
    """Best-of-N ms for caveat's per-token measures and for a naive softmax + entropy + top-5."""
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(n_vocab) * 3).astype(np.float32)
    work = make_work(n_vocab)

    def naive() -> None:
        p = np.exp(logits - logits.max())
        p /= p.sum()
        float(-(p * np.log(p + 1e-30)).sum())
        np.argpartition(logits, -5)[-5:]

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times) * 1000

    return best(lambda: token_measures(logits, 17, 5, work)), best(naive)


def measure(engine: Engine, prompts: tuple[str, ...], n: int, rounds: int) -> dict[str, Any]:
    """Alternate caveat and bare runs over the prompts; tokens/s for both and their ratio."""
    caveat_tok = caveat_s = bare_tok = bare_s = 0.0
    per_prompt: list[float] = []
    for r in range(rounds):
        for i, prompt in enumerate(prompts):
            order = (0, 1) if (r + i) % 2 == 0 else (1, 0)
            got: dict[int, tuple[int, float]] = {}
            for which in order:
                if which == 0:
                    got[0] = caveat_loop(engine, prompt, n)
                else:
                    # The same number of steps as caveat made (its stop rules may end early).
                    got[1] = bare_greedy(engine, prompt, max(got.get(0, (n, 0))[0], 8))
            if got[0][1] <= 0 or got[1][1] <= 0:
                continue
            caveat_tok += got[0][0]
            caveat_s += got[0][1]
            bare_tok += got[1][0]
            bare_s += got[1][1]
            per_prompt.append((got[0][0] / got[0][1]) / (got[1][0] / got[1][1]))
    caveat_tps = caveat_tok / caveat_s if caveat_s else 0.0
    bare_tps = bare_tok / bare_s if bare_s else 0.0
    return {
        "caveat_tps": caveat_tps,
        "bare_tps": bare_tps,
        "ratio": caveat_tps / bare_tps if bare_tps else 0.0,
        "ratio_median_per_prompt": statistics.median(per_prompt) if per_prompt else 0.0,
        "runs": len(per_prompt),
        "tokens_per_run": n,
    }


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table (or JSON)."""
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    prompts = _PROMPTS[:3] if args.quick else _PROMPTS
    n = min(args.tokens, 48) if args.quick else args.tokens
    rounds = 1 if args.quick else args.rounds
    caveat_loop(engine, prompts[0], 8)  # warm both paths once
    result = measure(engine, prompts, n, rounds)
    fast, naive = measures_cost_ms(engine.vocab.n_vocab)
    result["measures_ms"] = fast
    result["naive_measures_ms"] = naive
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"caveat loop (full records): {result['caveat_tps']:.1f} tok/s")
    print(f"bare greedy loop:           {result['bare_tps']:.1f} tok/s")
    print(
        f"ratio caveat/bare:          {result['ratio']:.3f} "
        f"(median per prompt {result['ratio_median_per_prompt']:.3f}, {result['runs']} runs)"
    )
    print(f"per-token measures:         {fast:.3f} ms (naive softmax: {naive:.3f} ms)")
    return 0
