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
from caveat.engine.types import HealingMode

__all__ = ["HealResult", "NextTokenLM", "Tokenizer", "heal", "split_prefix"]


def heal(
    context: Sequence[int],
    fragment: bytes,
    mode: HealingMode,
    tok: Tokenizer,
    lm: NextTokenLM,
    *,
    top_k: int = 5,
) -> HealResult:
    """Heal `fragment` (the bytes after `context`) with the given mode; see HealResult."""
    del context, lm, top_k  # used by the `token` and `byte` modes
    return heal_none(fragment, tok)
