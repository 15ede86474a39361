"""Healing with the real embedded model: words cut mid-token are continued, bytes are kept.

Uses the engine's own Tokenizer (`engine.tokenizer`) and NextTokenLM (`engine.lm`) adapters.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caveat.engine.engine import Engine
from caveat.engine.healing import heal, split_prefix
from caveat.engine.types import CompletionRequest, HealingMode

# (prefix cut mid-word, the word it must become). The first five are the issue's own examples.
CUT_WORDS = [
    ("def first_positive(xs):\n    for x in xs:\n        if x > 0:\n            ret", "return"),
    ("import os\n\n\ndef list_files(path):\n    return os.listd", "listdir"),
    ("def squares(n):\n    out = []\n    for i in ran", "range"),
    ("from collections import defaultd", "defaultdict"),
    ("def check(x):\n    if x < 0:\n        raise ValueEr", "ValueError"),
    ("import json\n\n\ndef load(path):\n    with open(path) as f:\n        return json.lo", "load"),
]

SNIPPET = (
    "import os\nfrom collections import defaultdict\n\n\n"
    "def count_words(path: str) -> dict[str, int]:\n"
    "    counts = defaultdict(int)\n"
    "    with open(path, encoding='utf-8') as fh:\n"
    "        for line in fh:\n"
    "            for word in line.split():\n"
    "                counts[word.lower()] += 1  # tally ü\n"
    "    return dict(counts)\n"
)


def _word_after(prefix: str, text: str, word: str) -> bool:
    """True when the fragment before the cursor plus the completion spells `word`."""
    tail = prefix.rsplit(None, 1)[-1].split(".")[-1].split("(")[-1]
    return (tail + text).startswith(word)


def _complete(engine: Engine, prefix: str, mode: HealingMode) -> str:
    req = CompletionRequest(prefix=prefix, max_tokens=6, healing=mode)
    return engine.complete(req).text


def test_byte_healing_continues_words_cut_mid_token(engine: Engine) -> None:
    """`byte` continues every cut word; `none` (the fragment tokenized as typed) fails most."""
    byte_ok = [_word_after(p, _complete(engine, p, "byte"), w) for p, w in CUT_WORDS]
    none_ok = [_word_after(p, _complete(engine, p, "none"), w) for p, w in CUT_WORDS]
    assert all(byte_ok), byte_ok
    assert sum(none_ok) <= len(CUT_WORDS) // 2, none_ok


@pytest.mark.parametrize("mode", ["token", "byte"])
def test_healing_info_names_the_cover(engine: Engine, mode: HealingMode) -> None:
    """HealingInfo reports the fragment, the winning cover and the model calls it cost."""
    c = engine.complete(CompletionRequest(prefix=CUT_WORDS[0][0], max_tokens=4, healing=mode))
    assert c.healing.mode == mode
    assert c.healing.fragment == b"ret"
    assert c.healing.cover_text.startswith("ret") and len(c.healing.cover_text) > 3
    assert c.healing.rows >= 1
    assert 0 <= c.healing.extra_passes <= c.healing.rows
    assert c.text.startswith(c.healing.cover_text[3:])


def test_repeated_healing_reads_remembered_rows(engine: Engine) -> None:
    """The next keystroke asks for the same rows again: they cost no forward pass."""
    req = CompletionRequest(prefix=CUT_WORDS[1][0], max_tokens=4, healing="byte")
    first = engine.complete(req)
    engine.complete(CompletionRequest(prefix="import sys\n", max_tokens=2))  # moves the cache
    again = engine.complete(req)
    assert again.healing.rows == first.healing.rows >= 1
    assert again.healing.extra_passes == 0
    assert again.healing.cover == first.healing.cover
    assert again.text == first.text
    engine.runtime.reuse = False  # cold requests reuse nothing, remembered rows included
    try:
        cold = engine.complete(req)
    finally:
        engine.runtime.reuse = True
    assert cold.healing.extra_passes >= 1
    assert cold.healing.cover == first.healing.cover


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1, max_value=len(SNIPPET)))
def test_real_model_healing_preserves_prefix_bytes(engine: Engine, cut: int) -> None:
    """Whatever the cut, token + byte healing decode to exactly prefix + emitted."""
    tok, lm = engine.tokenizer, engine.lm
    prefix = SNIPPET[:cut].encode()  # a cursor sits between characters
    head, fragment = split_prefix(prefix, tok)
    assert head + fragment == prefix
    context = [engine.info.bos, *tok.encode(head)]
    for mode in ("token", "byte"):
        res = heal(context, fragment, mode, tok, lm)
        healed = b"".join(tok.token_bytes[t] for t in [*context[1:], *res.tokens])
        assert healed == prefix + res.emitted, (mode, prefix[-20:], res.emitted)
        assert b"".join(r.bytes for r in res.records) == res.emitted
