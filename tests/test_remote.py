"""The remote backend against a real llama-server running the embedded model.

Compared with the in-process engine on the same model: the same greedy text, log-probabilities
within 0.05, and entropy intervals that hold the exact entropy. Both sides evaluate each prompt
whole (the in-process cache reset, the server's prompt cache off): on this CPU build a prompt
evaluated in two batches instead of one moves log-probabilities by up to ~0.25 nats, so
comparing after different cache histories would compare the split, not the backends.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import numpy as np
import pytest
from remote_server import llama_server

from caveat.engine.engine import Engine
from caveat.engine.loader import connect_remote
from caveat.engine.model import EMBEDDED
from caveat.engine.remote.build import ensure_built
from caveat.engine.remote.engine import RemoteEngine
from caveat.engine.remote.http import RemoteError, parse_endpoint
from caveat.engine.remote.openai import OpenAIEngine, parse_logprobs
from caveat.engine.remote.process import LlamaServer, free_port
from caveat.engine.remote.tokenizer import PieceTable
from caveat.engine.rerank import rerank
from caveat.engine.types import Completion, CompletionRequest
from caveat.records.measures import entropy_bounds
from caveat.records.types import TokenRecord

# The first test builds llama-server when the machine has none yet (minutes, once).
pytestmark = pytest.mark.timeout(1800)

PROMPTS = [
    "def fibonacci(n):\n    ",
    "import os\n\n\ndef read_lines(path):\n    with open(path) as f:\n        ",
    "const total = items.reduce((sum, item) => ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n",
]


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with llama_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def remote(server: LlamaServer) -> RemoteEngine:
    eng = RemoteEngine(parse_endpoint(server.url))
    eng.cache_prompt = False
    return eng


def _fresh(engine: Engine, req: CompletionRequest) -> Completion:
    """An in-process completion with nothing cached: the prompt evaluated in one batch."""
    engine.runtime.reset()
    engine.lm.forget()
    return engine.complete(req)


def test_served_embedded_model_is_recognised(engine: Engine, remote: RemoteEngine) -> None:
    """The embedded model's shape constants are the file's, so its calibration applies."""
    model = engine.llm.model
    assert llama_cpp.llama_model_n_params(model) == EMBEDDED.n_params
    assert llama_cpp.llama_model_size(model) == EMBEDDED.size
    assert engine.info.sha256 == EMBEDDED.sha256
    assert remote.calibrated and remote.info.sha256 == engine.info.sha256
    assert remote.info.bos == engine.info.bos and remote.n_ctx == 2048


@pytest.mark.parametrize("prefix", PROMPTS)
def test_remote_matches_in_process(engine: Engine, remote: RemoteEngine, prefix: str) -> None:
    req = CompletionRequest(prefix=prefix, max_tokens=24, top_k=5)
    local = _fresh(engine, req)
    got = remote.complete(req)
    assert got.backend == "llama-server" and local.backend == "local"
    assert "".join(r.text for r in got.records) == got.text
    assert got.text.split("\n")[0] == local.text.split("\n")[0]
    same = 0
    for a, b in zip(local.records, got.records, strict=False):
        if a.id != b.id:
            break
        same += 1
        assert abs(a.logprob - b.logprob) < 0.05, (a.text, a.logprob, b.logprob)
        assert b.entropy_bounds is not None and a.entropy_bounds is None
        low, high = b.entropy_bounds
        # The same slack as for log-probabilities: two evaluations of one prompt differ by a few
        # hundredths of a nat when their batches differ (a KV cache reused up to another point).
        assert low - 0.05 <= a.entropy <= high + 0.05, (a.text, low, a.entropy, high)
        assert [t.id for t in a.top[:3]] == [t.id for t in b.top[:3]] or a.margin < 0.05
    assert same >= 3


def test_cancel_stops_the_remote_stream(remote: RemoteEngine) -> None:
    cancel = threading.Event()
    seen: list[TokenRecord] = []

    def on_token(record: TokenRecord) -> None:
        seen.append(record)
        if len(seen) == 2:
            cancel.set()

    prefix = "# a long list of numbers\nnumbers = [\n"
    req = CompletionRequest(prefix=prefix, max_tokens=200)
    got = remote.complete(req, cancel=cancel, on_token=on_token)
    assert got.stop_reason == "cancelled"
    assert len(got.records) < 10
    # The server stopped that request: the next one is answered at once, whole.
    again = remote.complete(CompletionRequest(prefix="x = 1\ny = ", max_tokens=4))
    assert again.text and again.stop_reason != "cancelled"


def test_token_healing_over_the_wire(remote: RemoteEngine) -> None:
    req = CompletionRequest(prefix="import numpy as np\nx = np.arr", max_tokens=8, healing="byte")
    got = remote.complete(req)
    assert got.healing.mode == "token" and got.healing.candidates > 0
    assert got.healing.cover_text.startswith("arr")
    assert got.text.startswith("ay"), got.text
    assert got.records[0].text == got.text[: len(got.records[0].text)]


def test_hover_rollouts_over_the_wire(engine: Engine, remote: RemoteEngine) -> None:
    prefix = "def area(r):\n    return 3.14 * r * "
    engine.runtime.reset()
    local = rerank(engine, prefix, k=3, language="python", span_end_text="\n")
    got = rerank(remote, prefix, k=3, language="python", span_end_text="\n")
    assert [r.tokens[0] for r in got] == [r.tokens[0] for r in local]
    assert got[0].text == local[0].text
    for a, b in zip(local, got, strict=True):
        assert abs(a.logprobs[0] - b.logprobs[0]) < 0.05


def test_scan_needs_prompt_logprobs(remote: RemoteEngine) -> None:
    with pytest.raises(RemoteError, match="prompt log-probabilities"):
        remote.scan("x = 1\n")


def test_cli_complete_through_the_server(
    engine: Engine, server: LlamaServer, tmp_path: Path
) -> None:
    """`caveat complete --server --json`: the in-process text, with entropy bounds per token."""
    src = tmp_path / "area.py"
    src.write_text("def area(r):\n    return ", encoding="utf-8")
    flags = ["--server", server.url, "--json", "--max-tokens", "12", "--healing", "none"]
    out = subprocess.run(
        [sys.executable, "-m", "caveat", "complete", f"{src}:2:12", *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    body = json.loads(out.stdout)
    local = _fresh(
        engine,
        CompletionRequest(prefix="def area(r):\n    return ", max_tokens=12, language="python"),
    )
    assert body["backend"] == "llama-server" and body["text"] == local.text
    assert all(len(t["entropy_bounds"]) == 2 for t in body["tokens"])
    assert body["spans"] and body["model"]["sha256"] == engine.info.sha256


def test_down_server_is_one_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RemoteError, match="cannot reach"):
        RemoteEngine(parse_endpoint(url))
    done = subprocess.run(
        [sys.executable, "-m", "caveat", "scan", __file__, "--server", url],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "cannot reach" in done.stderr and "Traceback" not in done.stderr


def test_code_stays_local_unless_allowed() -> None:
    with pytest.raises(RemoteError, match="not this machine"):
        parse_endpoint("http://192.0.2.7:8080")
    with pytest.raises(RemoteError, match="not this machine"):
        parse_endpoint("https://models.example.com/v1")
    assert parse_endpoint("http://192.0.2.7:8080", allow_remote=True).host == "192.0.2.7"
    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        assert parse_endpoint(url).url == url
    with pytest.raises(RemoteError, match="http"):
        parse_endpoint("ftp://127.0.0.1/")


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAVEAT_TEST_KEY", raising=False)
    with pytest.raises(RemoteError, match="CAVEAT_TEST_KEY"):
        parse_endpoint("http://127.0.0.1:8080", api_key_env="CAVEAT_TEST_KEY")
    monkeypatch.setenv("CAVEAT_TEST_KEY", "s3cret")
    assert (
        parse_endpoint("http://127.0.0.1:8080", api_key_env="CAVEAT_TEST_KEY").api_key == "s3cret"
    )


@pytest.mark.parametrize("k", [1, 2, 5, 20, 100])
def test_entropy_bounds_hold_the_exact_entropy(k: int) -> None:
    rng = np.random.default_rng(k)
    for scale in (0.5, 2.0, 8.0):
        logits = rng.normal(scale=scale, size=5000)
        lp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        exact = float(-(np.exp(lp) * lp).sum())
        top = np.sort(lp)[::-1][:k]
        low, high = entropy_bounds(top.tolist(), 5000)
        assert low - 1e-9 <= exact <= high + 1e-9
    # The whole distribution: both ends are the entropy.
    low, high = entropy_bounds([math.log(0.5), math.log(0.5)], 2)
    assert low == pytest.approx(math.log(2)) and high == pytest.approx(math.log(2))


def test_openai_api_with_a_key(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """`/v1/completions` behind an API key: the same text and numbers as llama.cpp's API."""
    monkeypatch.setenv("CAVEAT_TEST_KEY", "k-123")
    with llama_server(api_key="k-123") as srv:
        remote = connect_remote(srv.url, api_key_env="CAVEAT_TEST_KEY", api="openai")
        assert isinstance(remote, OpenAIEngine) and remote.kind == "openai"
        remote.cache_prompt = False
        req = CompletionRequest(prefix=PROMPTS[0], max_tokens=16)
        local = _fresh(engine, req)
        got = remote.complete(req)
        assert got.backend == "openai" and got.text == local.text
        assert "".join(r.text for r in got.records) == got.text
        for a, b in zip(local.records, got.records, strict=False):
            assert a.id == b.id and abs(a.logprob - b.logprob) < 0.05
        monkeypatch.setenv("CAVEAT_TEST_KEY", "wrong")
        with pytest.raises(RemoteError, match="API key"):
            connect_remote(srv.url, api_key_env="CAVEAT_TEST_KEY", api="openai").complete(req)


def test_openai_logprobs_shape_without_llama_entries() -> None:
    """The OpenAI/vLLM `logprobs` shape: token ids as `token_id:N`, or text without ids."""
    pieces = PieceTable(client=None, n_vocab=1000)  # type: ignore[arg-type]
    pieces.learn(7, b" a")
    pieces.learn(9, b" b")
    shape = {
        "tokens": ["token_id:7"],
        "token_logprobs": [math.log(0.6)],
        "top_logprobs": [{"token_id:7": math.log(0.6), "token_id:9": math.log(0.3)}],
    }
    (step,) = list(parse_logprobs(shape, pieces))
    assert step.data == b" a" and step.measures.chosen == 7
    assert step.measures.margin == pytest.approx(math.log(2))
    low, high = step.bounds
    assert low <= high and low > -(0.6 * math.log(0.6) + 0.3 * math.log(0.3))
    text_only = {"tokens": [" x"], "token_logprobs": [-0.1], "top_logprobs": [{" x": -0.1}]}
    (step,) = list(parse_logprobs(text_only, pieces))
    assert step.data == b" x" and step.measures.chosen == -1


def test_fim_over_the_wire(tmp_path: Path) -> None:
    """A FIM model: the server's FIM tokens are found by name and the prompt is the same FIM."""
    from tiny_model import write_tiny_fim_model

    from caveat.engine.loader import load_engine
    from caveat.engine.remote.build import source_root

    vocab = source_root() / "llama.cpp" / "models" / "ggml-vocab-starcoder.gguf"
    model = write_tiny_fim_model(vocab, tmp_path / "tiny-fim.gguf")
    local = load_engine(str(model), n_ctx=1024, n_threads=1)
    req = CompletionRequest(
        prefix="def add(a, b):\n    return ", suffix="\n\nprint(add(1, 2))\n", max_tokens=8
    )
    try:
        want = local.complete(req)
        fim = local.info.fim
    finally:
        local.close()
    with LlamaServer(ensure_built(), model, threads=2, n_ctx=1024) as srv:
        remote = RemoteEngine(parse_endpoint(srv.url))
        remote.cache_prompt = False
        assert (remote.info.fim.pre, remote.info.fim.suf, remote.info.fim.mid) == (
            fim.pre,
            fim.suf,
            fim.mid,
        )
        assert not remote.calibrated
        got = remote.complete(req)
    assert want.prompt_mode == got.prompt_mode == "fim"
    assert got.text == want.text
    assert "".join(r.text for r in got.records) == got.text
    assert abs(got.records[0].logprob - want.records[0].logprob) < 0.05
