"""llama.cpp runtime: model loading, prompts, healing, the decode loop and scanning.

Exports load lazily: `caveat.scoring` imports `caveat.engine.types`, and importing this package
must not drag in llama_cpp for code that only needs the value types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caveat.engine.engine import Engine as Engine
    from caveat.engine.errors import EngineCancelled as EngineCancelled
    from caveat.engine.errors import ModelError as ModelError
    from caveat.engine.loader import load_engine as load_engine
    from caveat.engine.model import FimTokens as FimTokens
    from caveat.engine.model import ModelInfo as ModelInfo

_EXPORTS = {
    "Engine": "caveat.engine.engine",
    "EngineCancelled": "caveat.engine.errors",
    "ModelError": "caveat.engine.errors",
    "load_engine": "caveat.engine.loader",
    "FimTokens": "caveat.engine.model",
    "ModelInfo": "caveat.engine.model",
}

__all__ = ["Engine", "EngineCancelled", "FimTokens", "ModelError", "ModelInfo", "load_engine"]


def __getattr__(name: str) -> Any:
    """Import an export's module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'caveat.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
