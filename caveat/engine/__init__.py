"""llama.cpp runtime: model loading, prompts, healing, the decode loop and scanning."""

from __future__ import annotations

from caveat.engine.errors import EngineCancelled, ModelError
from caveat.engine.loader import load_engine
from caveat.engine.model import FimTokens, ModelInfo

from caveat.engine.engine import Engine  # isort: skip

__all__ = ["Engine", "EngineCancelled", "FimTokens", "ModelError", "ModelInfo", "load_engine"]
