"""The server's resource settings: what keeps memory and thread count flat over long sessions."""

from __future__ import annotations

import platform
import threading
import time

import pytest

from caveat.server.memory import tune_allocator
from caveat.server.server import CaveatServer


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator settings are glibc's")
def test_server_tunes_glibc_malloc() -> None:
    assert tune_allocator() is True


def test_stdin_is_read_by_one_pooled_thread() -> None:
    """pygls reads stdin through the server's pool: a bigger pool grew over long sessions."""
    pool = CaveatServer().thread_pool

    def read() -> str:
        time.sleep(0.01)  # a read that is still waiting when the next one is submitted
        return threading.current_thread().name

    try:
        names = {f.result() for f in [pool.submit(read) for _ in range(8)]}
    finally:
        pool.shutdown()
    assert len(names) == 1, names
