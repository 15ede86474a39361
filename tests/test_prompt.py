"""Prompt layout with real FIM tokenizers (vocab-only GGUFs from llama.cpp's test models)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caveat.engine.model import open_llama
from caveat.engine.prompt import budget_text, plan_prompt
from caveat.engine.types import CompletionRequest
from caveat.engine.vocab import Vocabulary

DATA = Path(__file__).parent / "data"

# family file -> the template's special-token texts, in PSM order (prefix, suffix, middle)
FAMILIES = {
    "ggml-vocab-starcoder.gguf": ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    "ggml-vocab-deepseek-coder.gguf": ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest) -> Iterator[tuple[str, Vocabulary, object]]:
    llm = open_llama(DATA / request.param, n_ctx=512, n_threads=1, vocab_only=True)
    yield request.param, Vocabulary(llm), llm
    llm.close()


def _fim_ids(llm: object, texts: tuple[str, str, str]) -> list[int]:
    ids = [llm.tokenize(t.encode(), add_bos=False, special=True) for t in texts]  # type: ignore[attr-defined]
    assert all(len(i) == 1 for i in ids), ids
    return [i[0] for i in ids]


def test_psm_prompt_is_the_family_template(family: tuple[str, Vocabulary, object]) -> None:
    from caveat.engine.model import FimTokens

    name, vocab, llm = family
    pre, suf, mid = _fim_ids(llm, FAMILIES[name])
    fim = FimTokens(pre=pre, suf=suf, mid=mid)
    prefix, suffix = "def area(r):\n    return 3.14 * r", "\n\nprint(area(2))\n"
    req = CompletionRequest(prefix=prefix, suffix=suffix, healing="none")
    plan = plan_prompt(req, vocab, n_ctx=512, bos=-1, add_bos=False, fim=fim, spm=False)
    template = f"{FAMILIES[name][0]}{prefix}{FAMILIES[name][1]}{suffix}{FAMILIES[name][2]}"
    expected = llm.tokenize(template.encode(), add_bos=False, special=True)  # type: ignore[attr-defined]
    assert plan.mode == "fim"
    assert plan.fragment == b""
    assert list(plan.head) == expected


def test_model_metadata_exposes_fim_tokens(family: tuple[str, Vocabulary, object]) -> None:
    import llama_cpp

    name, _, llm = family
    vocab = llama_cpp.llama_model_get_vocab(llm.model)  # type: ignore[attr-defined]
    assert [
        llama_cpp.llama_vocab_fim_pre(vocab),
        llama_cpp.llama_vocab_fim_suf(vocab),
        llama_cpp.llama_vocab_fim_mid(vocab),
    ] == _fim_ids(llm, FAMILIES[name])


def test_healing_moves_the_fragment_into_the_middle(
    family: tuple[str, Vocabulary, object],
) -> None:
    from caveat.engine.model import FimTokens

    name, vocab, llm = family
    pre, suf, mid = _fim_ids(llm, FAMILIES[name])
    fim = FimTokens(pre=pre, suf=suf, mid=mid)
    req = CompletionRequest(prefix="import os\nfiles = os.listd", suffix="\n", healing="byte")
    plan = plan_prompt(req, vocab, n_ctx=512, bos=-1, add_bos=False, fim=fim, spm=False)
    assert plan.head[-1] == mid
    assert plan.fragment and b"os.listd".endswith(plan.fragment)
    assert vocab.decode(plan.head[1 : plan.head.index(suf)]) + plan.fragment == (
        b"import os\nfiles = os.listd"
    )


@pytest.mark.parametrize(
    ("prefix", "suffix", "budget"),
    [
        ("a\n" * 50, "b\n" * 50, 40),
        ("x = 1\n" * 10, "", 20),
        ("short", "tail", 100),
    ],
)
def test_budget_keeps_lines_nearest_the_cursor(prefix: str, suffix: str, budget: int) -> None:
    new_prefix, new_suffix, dropped_p, dropped_s = budget_text(prefix, suffix, budget)
    assert prefix.endswith(new_prefix) and suffix.startswith(new_suffix)
    assert dropped_p == len(prefix) - len(new_prefix)
    assert dropped_s == len(suffix) - len(new_suffix)
    if len(prefix) + len(suffix) <= budget:
        assert (new_prefix, new_suffix) == (prefix, suffix)
        return
    assert len(new_prefix) + len(new_suffix) <= budget
    assert new_prefix, "the lines nearest the cursor must survive"
    # Whole lines: the kept prefix starts at a line start, the kept suffix ends at a line end.
    assert dropped_p == 0 or prefix[dropped_p - 1] == "\n"
    assert not new_suffix or new_suffix == suffix or new_suffix.endswith("\n")
