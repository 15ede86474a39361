"""Helpers for the benchmarks' raw stdio clients: LSP framing and the server's memory."""

from __future__ import annotations

from pathlib import Path
from typing import IO


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The body of the next `Content-Length` framed message, or None at end of stream."""
    length = 0
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return stream.read(length)


def process_rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB, from /proc/PID/status (0 when unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
