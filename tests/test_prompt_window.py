"""The prompt window of a large document moves in coarse steps (issue #22 item 7).

When the window slid by a character or a token per keystroke, the prompt's first tokens changed
every time and the KV cache (reused up to the longest common prefix) was lost: ~21 s per
keystroke on a 60 KB numeric file. Here consecutive keystrokes at the end of a large document
must keep most of the previous prompt, with a real tokenizer (vocab-only StarCoder GGUF).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from caveat.bench.latency import dense_source
from caveat.engine.model import FimTokens, open_llama
from caveat.engine.prompt import plan_prompt
from caveat.engine.types import CompletionRequest
from caveat.engine.vocab import Vocabulary

DATA = Path(__file__).parent / "data"
KEYSTROKES = 120


@pytest.fixture(scope="module")
def vocab() -> Iterator[Vocabulary]:
    """StarCoder's tokenizer (it splits digits one by one: numeric text is dense)."""
    llm = open_llama(DATA / "ggml-vocab-starcoder.gguf", n_ctx=512, n_threads=1, vocab_only=True)
    yield Vocabulary(llm)
    llm.close()


def _code(size: int) -> str:
    """Short lines of code, about `size` characters."""
    lines = [f"    total += values[{i}] * {i % 7}\n" for i in range(size // 30)]
    return "def f(values):\n    total = 0\n" + "".join(lines)


def _common(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        pytest.param(
            dense_source().removesuffix("]\n"),
            "0.123456, 0.654321, 0.111111, 0.999999, ",
            id="dense-60KB",
        ),
        pytest.param(_code(60_000), "    total += values[1] * 2\n    if total:\n", id="code-60KB"),
    ],
)
@pytest.mark.parametrize("n_ctx", [512, 2048])
def test_keystrokes_keep_the_prompt_start(
    vocab: Vocabulary, text: str, typed: str, n_ctx: int
) -> None:
    """Typing at the end of a 60 KB document: the window moves a few times, not per keystroke."""
    heads = []
    for i in range(KEYSTROKES):
        prefix = text + (typed * 4)[:i]
        req = CompletionRequest(prefix=prefix, language="python", healing="byte", max_tokens=32)
        plan = plan_prompt(req, vocab, n_ctx=n_ctx, bos=1, add_bos=True, fim=FimTokens(), spm=False)
        assert len(plan.head) + len(plan.fragment) <= n_ctx - 32
        heads.append(plan.head)
    moves = sum(_common(before, after) < len(before) // 2 for before, after in pairwise(heads))
    assert moves <= 4, f"the window moved on {moves} of {KEYSTROKES - 1} keystrokes"
    assert min(len(h) for h in heads) > (n_ctx - 32) // 2, "the window must still be used"
