"""The engine against the real embedded model: records, exact entropy, cancel, KV reuse."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from caveat.engine.engine import Engine
from caveat.engine.overlap import MeasureOverlap
from caveat.engine.types import CompletionRequest

FIB = '''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    '''


def _entropy_f64(logits: npt.NDArray[np.float32]) -> float:
    """Independent reference: plain float64 softmax and -sum p log p."""
    x = logits.astype(np.float64)
    x -= x.max()
    p = np.exp(x)
    p /= p.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def _capture_logits(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Record a copy of every logits row the decode loop reads (instrumentation, not a fake)."""
    seen: list[np.ndarray] = []
    original: Callable[[], npt.NDArray[np.float32]] = engine.runtime.logits

    def spy() -> npt.NDArray[np.float32]:
        row = original()
        seen.append(row.copy())
        return row

    monkeypatch.setattr(engine.runtime, "logits", spy)
    return seen


def test_complete_records_are_exact(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_logits(engine, monkeypatch)
    streamed = []
    c = engine.complete(
        CompletionRequest(prefix=FIB, max_tokens=24, healing="none"), on_token=streamed.append
    )
    assert c.text.strip(), "the completion is empty"
    assert b"".join(r.bytes for r in c.records).decode() == c.text
    assert [r.offset for r in c.records] == [
        sum(len(r.bytes) for r in c.records[:i]) for i in range(len(c.records))
    ]
    assert streamed == list(c.records)
    assert len(seen) >= len(c.records)
    for rec, logits in zip(c.records, seen, strict=False):
        assert rec.entropy == pytest.approx(_entropy_f64(logits), abs=1e-4)
        assert rec.logprob <= 0.0
        assert rec.top[0].id == rec.id == int(np.argmax(logits))
        assert rec.margin >= 0.0
        assert len(rec.top) == 5
        assert all(a.logprob >= b.logprob for a, b in zip(rec.top, rec.top[1:], strict=False))


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_overlapped_measures_equal_sequential(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, temperature: float
) -> None:
    """Measures computed during the next forward pass are the ones computed before it."""
    req = CompletionRequest(
        prefix=FIB, max_tokens=20, healing="none", temperature=temperature, seed=7
    )
    monkeypatch.setattr(engine, "_overlap", None)
    engine.runtime.reset()
    sequential = engine.complete(req)
    overlap = MeasureOverlap(engine.vocab.n_vocab)
    monkeypatch.setattr(engine, "_overlap", overlap)
    calls = 0
    original = overlap.measure_during

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(overlap, "measure_during", counting)
    try:
        engine.runtime.reset()
        overlapped = engine.complete(req)
    finally:
        overlap.close()
    assert len(sequential.records) >= 4
    # Every step but the first (streamed before the next pass) and the last (no next pass).
    assert calls >= len(overlapped.records) - 2 > 0
    assert overlapped.text == sequential.text
    assert overlapped.records == sequential.records


def test_greedy_is_deterministic(engine: Engine) -> None:
    req = CompletionRequest(prefix=FIB, max_tokens=16, healing="none")
    assert engine.complete(req).text == engine.complete(req).text


def test_cancel_stops_within_one_token(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = threading.Event()
    steps = 0
    original = engine.runtime.append

    def counting_append(token: int) -> None:
        nonlocal steps
        steps += 1
        if steps == 3:
            cancel.set()
        original(token)

    monkeypatch.setattr(engine.runtime, "append", counting_append)
    c = engine.complete(
        CompletionRequest(prefix="import os\n\n\ndef main():\n", max_tokens=60, healing="none"),
        cancel=cancel,
    )
    assert c.stop_reason == "cancelled"
    assert steps == 3, "the loop decoded another token after the cancel flag was set"


def test_one_more_character_reuses_the_cache(engine: Engine) -> None:
    first = "def add(a, b):\n    return a +"
    engine.complete(CompletionRequest(prefix=first, max_tokens=4, healing="none"))
    second = engine.complete(CompletionRequest(prefix=first + " ", max_tokens=4, healing="none"))
    new_tokens = len(engine.vocab.encode(b" "))
    assert second.prompt_tokens_evaluated <= new_tokens + 2
    assert second.prompt_tokens_reused >= second.prompt_tokens - new_tokens - 2


def test_remembered_encodings_equal_the_tokenizer(engine: Engine) -> None:
    """Long texts are encoded once per keystroke; a caller changing its list changes nothing."""
    text = (FIB * 8).encode()
    fresh = list(engine.llm.tokenize(text, add_bos=False, special=False))
    first = engine.vocab.encode(text)
    first.append(0)
    assert engine.vocab.encode(text) == fresh
    assert engine.vocab.encode(text[:-1]) == list(
        engine.llm.tokenize(text[:-1], add_bos=False, special=False)
    )


def test_scope_rule_stops_at_dedent(engine: Engine) -> None:
    c = engine.complete(CompletionRequest(prefix=FIB, max_tokens=96, healing="none"))
    lines = [ln for ln in c.text.split("\n")[1:] if ln.strip()]
    assert all(ln.startswith("    ") for ln in lines), c.text
    assert c.stop_reason in {"scope", "eos", "max_tokens", "repetition"}


@pytest.mark.parametrize("text", ["x = 1\n", "naïve = '日本語' 🙂\n", ""])
def test_scan_covers_every_byte(engine: Engine, text: str) -> None:
    records = engine.scan(text)
    assert b"".join(r.bytes for r in records) == text.encode()
    assert all(r.logprob <= 0 for r in records)
    assert all(r.offset == sum(len(x.bytes) for x in records[:i]) for i, r in enumerate(records))


def test_scan_matches_incremental_scoring(engine: Engine) -> None:
    text = "for i in range(10):\n    print(i)\n"
    records = engine.scan(text)
    tokens = [r.id for r in records]
    # The token after a prefix, scored by syncing that prefix alone, agrees with the batch.
    for i in (1, len(tokens) // 2, len(tokens) - 1):
        engine.runtime.reset()
        engine.runtime.sync([engine.info.bos, *tokens[:i]])
        assert records[i].entropy == pytest.approx(_entropy_f64(engine.runtime.logits()), abs=2e-2)


def test_scan_from_an_offset_matches_the_full_scan(engine: Engine) -> None:
    text = "import os\n\n\ndef size(path):\n    return os.path.getsize(path)\n"
    full = engine.scan(text)
    start = text.index("def")
    tail = engine.scan(text, start_byte=start)
    expected = [r for r in full if r.end > start]
    assert [(r.id, r.offset) for r in tail] == [(r.id, r.offset) for r in expected]
    for a, b in zip(tail, expected, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=2e-2)
    assert engine.scan(text, start_byte=len(text.encode())) == []
