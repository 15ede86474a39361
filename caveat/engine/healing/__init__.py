"""Token healing of the fragment before the cursor: `none`, classic `token`, exact `byte`.

Exact byte-level healing follows "Exact Byte-Level Probabilities from Tokenized Language Models
for FIM-Tasks and Model Ensembles" (Phan et al., 2024); see docs/ENGINE_API.md for the contract.
"""

from __future__ import annotations

from collections.abc import Sequence

from caveat.engine.healing.base import (
    HealResult,
    NextTokenLM,
    Tokenizer,
    heal_none,
    split_prefix,
)
from caveat.engine.healing.modes import heal_byte, heal_token
from caveat.engine.types import HealingInfo, HealingMode

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_PRUNE",
    "HealResult",
    "NextTokenLM",
    "Tokenizer",
    "heal",
    "split_prefix",
]

# `byte` mode drops covers carrying less than this fraction of the best cover's probability.
# Their total effect on the next-byte distribution is bounded by it; 0 makes healing exact.
DEFAULT_PRUNE = 1e-3

# `byte` mode commits to the most probable cover once it has read this many next-token rows
# (each a forward pass unless the engine remembers it); None never stops early. A fragment
# such as ` o` keeps dozens of covers alive for several bytes (` o`+`ption`, ` op`+`tion`,
# ` opt`+`ion`, ...) and took up to 25 rows, over a second of typing latency. By the budget the
# first bytes past the cursor are decided exactly; what is left is mostly how to tokenize
# text that decoding would write anyway.
DEFAULT_MAX_ROWS = 8


def heal(
    context: Sequence[int],
    fragment: bytes,
    mode: HealingMode,
    tok: Tokenizer,
    lm: NextTokenLM,
    *,
    top_k: int = 5,
    prune: float = DEFAULT_PRUNE,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> HealResult:
    """Heal `fragment` (the bytes after `context`) with the given mode; see HealResult.

    `byte` is exact with `prune=0` and `max_rows=None`; the defaults give up exactness in long
    ties between covers for a bounded number of model calls per keystroke.
    """
    if mode == "none" or not fragment:
        res = heal_none(fragment, tok)
        if mode != "none":
            return HealResult(res.tokens, b"", (), HealingInfo(mode=mode, fragment=fragment))
        return res
    if mode == "token":
        return heal_token(context, fragment, tok, lm, top_k)
    return heal_byte(context, fragment, tok, lm, top_k, prune, max_rows)
