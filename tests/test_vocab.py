"""Vocabulary.encode: long texts go through the tokenizer in remembered pieces, exactly."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from caveat.engine.engine import Engine
from caveat.engine.model import open_llama
from caveat.engine.vocab import Vocabulary

DATA = Path(__file__).parent / "data"
SOURCE = Path(textwrap.__file__).read_text(encoding="utf-8")
# Blank-line runs, CRLF, tabs, non-ASCII and a line starting with a space after a newline.
ODD = "x = 1\n\n\n\ny = 'naïve 日本語 🙂'\r\n\tz = 2\n  w\n" * 40


def _whole(vocab: Vocabulary, data: bytes) -> list[int]:
    return list(vocab._llm.tokenize(data, add_bos=False, special=False))


class CountingTokenizer:
    """Counts the bytes that reach the real tokenizer."""

    def __init__(self, vocab: Vocabulary, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        real = vocab._llm.tokenize

        def tokenize(data: bytes, **kw: bool) -> list[int]:
            self.bytes += len(data)
            return list(real(data, **kw))

        monkeypatch.setattr(vocab._llm, "tokenize", tokenize)


@pytest.fixture(scope="module", params=["ggml-vocab-llama-spm.gguf", "ggml-vocab-starcoder.gguf"])
def other(request: pytest.FixtureRequest) -> Iterator[Vocabulary]:
    """An SPM vocabulary that prefixes texts with a space, and a BPE one."""
    llm = open_llama(DATA / request.param, n_ctx=512, n_threads=1, vocab_only=True)
    yield Vocabulary(llm)
    llm.close()


@pytest.mark.parametrize("text", [SOURCE, ODD])
def test_pieces_encode_like_one_call(engine: Engine, text: str) -> None:
    data = text.encode("utf-8")
    for end in (300, 1000, 4097, len(data) // 2, len(data)):
        part = data[:end].decode("utf-8", errors="ignore").encode("utf-8")
        assert engine.vocab.encode(part) == _whole(engine.vocab, part), end


@pytest.mark.parametrize("text", [SOURCE[:6000], ODD])
def test_other_families_encode_like_one_call(other: Vocabulary, text: str) -> None:
    data = text.encode("utf-8")
    assert other.encode(data) == _whole(other, data)


def test_a_keystroke_tokenizes_only_the_last_piece(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = SOURCE[:12000].encode("utf-8")
    engine.vocab.encode(data)
    counter = CountingTokenizer(engine.vocab, monkeypatch)
    typed = engine.vocab.encode(data + b"x")
    assert counter.bytes < 2000, "a keystroke at the end re-encoded far more than its line"
    # The prompt's start moves by whole lines as the budget slides; the pieces stay put.
    counter.bytes = 0
    start = data.index(b"\n", 3000) + 1
    engine.vocab.encode(data[start:] + b"x")
    assert counter.bytes < 2000, "dropping the first lines moved every piece"
    assert typed == _whole(engine.vocab, data + b"x")
