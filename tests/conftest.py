"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caveat.engine.engine import Engine
from caveat.engine.loader import load_engine

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The embedded Gemma 3 270M engine (assembled into the user cache on first use)."""
    eng = load_engine(None, n_ctx=2048, n_threads=2)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (examples, clients, docs)."""
    return REPO
