"""The server's allocator settings (what keeps its resident memory flat over long sessions)."""

from __future__ import annotations

import platform

import pytest

from caveat.server.memory import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator settings are glibc's")
def test_server_tunes_glibc_malloc() -> None:
    assert tune_allocator() is True
