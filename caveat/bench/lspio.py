"""LSP base-protocol framing for the benchmarks' raw stdio clients."""

from __future__ import annotations

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
