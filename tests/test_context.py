"""Repository context: chunk choice, prompt layout, imports and definitions, `--context`."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from caveat.annotate.context_sources import Workspace, import_chunks
from caveat.engine.context import ContextChunk, RepoContext, context_text, select_chunks
from caveat.engine.model import FimTokens, open_llama
from caveat.engine.prompt import plan_prompt
from caveat.engine.types import CompletionRequest
from caveat.engine.vocab import Vocabulary
from caveat.grammars.imports import Import, definitions, imports

DATA = Path(__file__).parent / "data"
HELPERS = "def compute_cart_total(items):\n    return sum(i.price for i in items)\n"


@pytest.fixture(scope="module")
def starcoder() -> Iterator[tuple[Vocabulary, dict[str, int]]]:
    """StarCoder's tokenizer (vocab only) and the ids of its special tokens by text."""
    llm = open_llama(DATA / "ggml-vocab-starcoder.gguf", n_ctx=512, n_threads=1, vocab_only=True)
    names = ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<|endoftext|>")
    ids = {t: llm.tokenize(t.encode(), add_bos=False, special=True)[0] for t in names}
    yield Vocabulary(llm), ids
    llm.close()


@pytest.fixture(scope="module")
def vocab(starcoder: tuple[Vocabulary, dict[str, int]]) -> Vocabulary:
    """StarCoder's tokenizer: FIM tokens, no repository tokens of its own."""
    return starcoder[0]


def _count(vocab: Vocabulary) -> Callable[[str], int]:
    return lambda s: len(vocab.encode(s.encode()))


def test_chunks_the_cursor_already_holds_are_dropped(vocab: Vocabulary) -> None:
    """A copy of the cursor's text and an overlap of a taken chunk go; the rest fit the budget."""
    copy = ContextChunk("a.py", 1, 2, "value = compute_cart_total(cart)\nprint(value, 'done')\n")
    fresh = ContextChunk("b.py", 1, 2, HELPERS)
    overlap = ContextChunk("b.py", 2, 3, "    return sum(i.price for i in items)\n")
    big = ContextChunk("c.py", 1, 400, "".join(f"line_{i} = {i}\n" for i in range(400)))
    cursor = "x = 1\nvalue = compute_cart_total(cart)\nprint(value, 'done')\n"
    chosen = select_chunks(
        [copy, fresh, overlap, big], cursor_text=cursor, budget=200, count=_count(vocab)
    )
    assert [(c.path, c.start_line) for c in chosen] == [("b.py", 1), ("c.py", 1)]
    assert chosen[1].end_line < 400 and sum(c.tokens for c in chosen) <= 200
    assert chosen[0].tokens == len(vocab.encode(b"// b.py\n" + HELPERS.encode() + b"\n"))


def test_the_order_is_stable_whatever_the_priority(vocab: Vocabulary) -> None:
    """The same chunks make the same prompt text in whatever order they were found."""
    chunks = [ContextChunk(f"m{i}.py", 1, 1, f"name_{i} = {i}\n", "import") for i in range(6)]
    chunks.append(ContextChunk("z.py", 5, 5, "edited_here = 1\n", "edit"))
    texts = set()
    for seed in range(4):
        shuffled = random.Random(seed).sample(chunks, len(chunks))
        chosen = select_chunks(shuffled, cursor_text="", budget=10_000, count=_count(vocab))
        texts.add(context_text(RepoContext("main.py", chosen), "python"))
    [text] = texts
    assert text.startswith("# z.py\nedited_here = 1\n\n# m0.py\n") and text.endswith("# main.py\n")


def test_prefix_prompt_keeps_the_context_first_across_keystrokes(vocab: Vocabulary) -> None:
    """Prefix-only: BOS, commented chunks, the file's header, its prefix; typing only appends."""
    ctx = RepoContext("main.py", (ContextChunk("helpers.py", 1, 2, HELPERS),))
    heads = []
    for prefix in ("total = helpers.", "total = helpers.co"):
        req = CompletionRequest(prefix=prefix, language="python", context=ctx, healing="none")
        plan = plan_prompt(req, vocab, n_ctx=512, bos=7, add_bos=True, fim=FimTokens(), spm=False)
        heads.append(plan.head)
        text = "# helpers.py\n" + HELPERS + "\n# main.py\n" + prefix
        assert plan.mode == "prefix"
        assert vocab.decode(plan.head[1:]) + plan.fragment == text.encode()
    context = vocab.encode(context_text(ctx, "python").encode())
    assert heads[0][: 1 + len(context)] == heads[1][: 1 + len(context)] == (7, *context)


def test_fim_models_get_their_repository_format(
    starcoder: tuple[Vocabulary, dict[str, int]],
) -> None:
    """With a file separator token: `<rep>workspace\\n<sep>path\\ncode<sep>main.py\\n<PRE>...`."""
    vocab, ids = starcoder
    pre, suf, mid = ids["<fim_prefix>"], ids["<fim_suffix>"], ids["<fim_middle>"]
    # StarCoder 1 has no repository tokens: two other special tokens stand in for them.
    rep, sep = ids["<fim_pad>"], ids["<|endoftext|>"]
    fim = FimTokens(pre=pre, suf=suf, mid=mid, rep=rep, sep=sep)
    ctx = RepoContext("main.py", (ContextChunk("helpers.py", 1, 2, HELPERS),))
    req = CompletionRequest(prefix="total = ", suffix="\n", context=ctx, healing="none")
    plan = plan_prompt(req, vocab, n_ctx=512, bos=-1, add_bos=False, fim=fim, spm=False)
    head = list(plan.head)
    assert head[0] == rep and head.count(sep) == 2 and head.index(pre) > head.index(sep)
    first, second = (i for i, t in enumerate(head) if t == sep)
    assert vocab.decode(head[1:first]) == b"workspace\n"
    assert vocab.decode(head[first + 1 : second]) == b"helpers.py\n" + HELPERS.encode()
    assert vocab.decode(head[second + 1 : head.index(pre)]) == b"main.py\n"
    assert vocab.decode(head[head.index(pre) + 1 : head.index(suf)]) == b"total = "


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "import os.path as osp, json\n",
            [Import("os.path", bound="osp"), Import("json", bound="json")],
        ),
        ("from . import utils\n", [Import("", 1, ("utils",))]),
        ("from ..a.b import c as d, e\n", [Import("a.b", 2, ("c", "e"))]),
        (
            "try:\n    from m import (x,\n        y)\nexcept ImportError:\n    pass\n",
            [Import("m", 0, ("x", "y"))],
        ),
        ("from email._policybase import *\n", [Import("email._policybase", 0, ("*",))]),
    ],
)
def test_imports(source: str, expected: list[Import]) -> None:
    """Every import form, with relative levels, aliases and wildcards."""
    assert imports(source, "python") == expected


def test_definitions_summarise_long_bodies() -> None:
    """Small functions whole; a long class as its header, docstring line and signatures."""
    body = "".join(f"        x{i} = {i}\n" for i in range(20))
    src = (
        "LIMIT = 3\n\ndef small(a):\n    return a\n\n"
        f'class Big(Base):\n    """Big things.\n\n    More.\n    """\n    def run(self, n):\n{body}'
    )
    defs = {d.name: d for d in definitions(src, "python")}
    assert list(defs) == ["LIMIT", "small", "Big"]
    assert defs["small"].summary == "def small(a):\n    return a\n"
    assert defs["Big"].summary == (
        'class Big(Base):\n    """Big things. ..."""\n    def run(self, n):\n        ...\n'
    )
    assert (defs["Big"].start_line, defs["Big"].end_line) == (6, 31)


def test_imports_resolve_inside_the_workspace_only(tmp_path: Path) -> None:
    """Package-relative and absolute imports resolve; a symlink out of the folder is not read."""
    pkg = tmp_path / "ws" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text(HELPERS + "def _private():\n    pass\n\nOTHER = 1\n")
    (tmp_path / "secret.py").write_text("TOKEN = 'do not read'\n")
    (pkg / "secret.py").symlink_to(tmp_path / "secret.py")
    ws = Workspace.of([tmp_path / "ws"])
    text = (
        "from . import helpers, secret\nfrom pkg.helpers import OTHER\nhelpers.compute_cart_total\n"
    )
    first, rest = import_chunks(text, pkg / "main.py", "python", ws)
    assert [(c.path, c.start_line) for c in first] == [("pkg/helpers.py", 1), ("pkg/helpers.py", 6)]
    assert rest == [] and all("do not read" not in c.text for c in first + rest)


def test_cli_reports_the_context_it_used(tmp_path: Path) -> None:
    """`caveat complete --context FILE --json`: the chunk is listed and its name completed."""
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "main.py").write_text("import helpers\n\ntotal = helpers.\n")
    cmd = [sys.executable, "-m", "caveat", "complete", "main.py:3:17", "--json"]
    cmd += ["--max-tokens", "6", "--context", "helpers.py"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["text"].startswith("compute_cart_total"), body["text"]
    [chunk] = body["context"]
    assert chunk["path"] == "helpers.py" and (chunk["start_line"], chunk["end_line"]) == (1, 2)
    assert chunk["tokens"] > 10


JS_HELPERS = """export function computeCartTotal(items, taxRate) {
  return items.reduce((sum, item) => sum + item.price, 0) * (1 + taxRate);
}

export const TAX_RATE = 0.2, CURRENCY = 'EUR';

export default class Cart {
  constructor() { this.items = []; }
  add(item) { this.items.push(item); }
}

function internalHelper() {}
"""


def test_javascript_imports_resolve_relative_files(tmp_path: Path) -> None:
    """`import {a} from './x'`, default and `require`: definitions come from the workspace file;
    a package name or a file outside the folder is never read."""
    src = tmp_path / "ws" / "src"
    (src / "cart").mkdir(parents=True)
    (src / "cart" / "helpers.js").write_text(JS_HELPERS)
    (src / "format.ts").write_text("export interface Money { amount: number }\n")
    (tmp_path / "outside.js").write_text("export const SECRET = 'do not read';\n")
    (src / "outside.js").symlink_to(tmp_path / "outside.js")
    ws = Workspace.of([tmp_path / "ws"])
    text = (
        "import Cart, { computeCartTotal, TAX_RATE, CURRENCY } from './cart/helpers';\n"
        "import * as outside from './outside.js';\n"
        "const { Money } = require('./format');\n"
        "import React from 'react';\n"
        "const total = computeCartTotal(new Cart().items, TAX_RATE);\n"
        "outside.SECRET;\n"
    )
    first, rest = import_chunks(text, src / "main.js", "javascript", ws)
    got = [(c.path, c.start_line) for c in first]
    assert got == [("src/cart/helpers.js", 1), ("src/cart/helpers.js", 5), ("src/format.ts", 1)]
    assert "computeCartTotal(items, taxRate)" in first[0].text
    # The default import is used by attribute nowhere: its other public names are "the rest".
    assert ("src/cart/helpers.js", 7) in [(c.path, c.start_line) for c in rest]
    assert all("do not read" not in c.text for c in first + rest)


def test_typescript_definitions_summarise_long_classes() -> None:
    from caveat.grammars.imports_js import js_definitions

    methods = "\n".join(
        f"  method{i}(x: number): number {{\n    return x + {i};\n  }}" for i in range(8)
    )
    source = f"export class Big {{\n{methods}\n}}\ninterface Small {{ id: number }}\n"
    defs = {d.name: d for d in js_definitions(source, "typescript")}
    assert set(defs) == {"Big", "Small"}
    big = defs["Big"].summary
    assert big.startswith("export class Big") and "method0(x: number): number { ... }" in big
    assert "return x" not in big and big.rstrip().endswith("}")
    assert defs["Small"].summary == "interface Small { id: number }\n"
