"""Reading LSP frames off a byte stream, with limits: the one reader loop of every transport.

pygls' reader trusts the `Content-Length` header (a header of 99999999999 made it allocate that
much and die with MemoryError) and reads header lines of any length. Here a header line is read
in bounded pieces, a body above the message limit is answered with an error and skipped in
chunks (the stream stays in step, so an honest client can go on), and every body goes to
`CaveatProtocol.receive`, which answers what does not decode.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import BinaryIO, Protocol

from pygls.exceptions import JsonRpcInvalidRequest

logger = logging.getLogger(__name__)

#: Largest message body accepted by default (`caveat serve --max-message-size`).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: A header line longer than this is read in pieces of this size (and ignored).
MAX_HEADER_LINE = 8192
#: Bodies above the limit are skipped in pieces of this size.
SKIP_CHUNK = 1024 * 1024


class Frames(Protocol):
    """A byte stream as the reader loop needs it."""

    def readline(self) -> Awaitable[bytes]:
        """The next line, or at most MAX_HEADER_LINE bytes of it; b"" at end of stream."""

    def read(self, n: int) -> Awaitable[bytes]:
        """Exactly `n` bytes, fewer only at end of stream."""


class StdinFrames:
    """Frames from a blocking binary stream (stdin), read on a one-thread executor."""

    def __init__(self, stream: BinaryIO, executor: Executor) -> None:
        """Read `stream` on `executor` (one read at a time)."""
        self.stream = stream
        self.executor = executor

    def readline(self) -> Awaitable[bytes]:
        """The next line, at most MAX_HEADER_LINE bytes of it."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, self.stream.readline, MAX_HEADER_LINE)

    def read(self, n: int) -> Awaitable[bytes]:
        """`n` bytes (fewer at end of stream)."""
        return asyncio.get_running_loop().run_in_executor(self.executor, self.stream.read, n)


class StreamFrames:
    """Frames from an asyncio StreamReader (a TCP connection)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        """Read from `reader`."""
        self.reader = reader

    async def readline(self) -> bytes:
        """The next line; a line longer than the reader's limit comes in pieces."""
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial
        except asyncio.LimitOverrunError as exc:
            return await self.reader.read(max(1, exc.consumed))

    async def read(self, n: int) -> bytes:
        """`n` bytes (fewer at end of stream)."""
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


def content_length(line: bytes) -> int | None:
    """The length a `Content-Length` header line declares, or None for any other line."""
    name, sep, value = line.partition(b":")
    if not sep or name.strip().lower() != b"content-length":
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 20:
        return None
    return int(value)


async def read_frames(
    frames: Frames,
    receive: Callable[[bytes], None],
    reject: Callable[[JsonRpcInvalidRequest], None],
    stop: threading.Event,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> None:
    """Read framed bodies and hand each to `receive` until end of stream or `stop`.

    Header lines other than `Content-Length` are ignored, as is a blank line without a length
    before it (so a lying length resynchronises at the next header). A body above `max_bytes`
    is answered through `reject` and skipped without being held in memory.
    """
    length: int | None = None
    while not stop.is_set():
        line = await frames.readline()
        if not line:
            return
        if line.strip():
            if length is None:
                length = content_length(line)
            continue
        if not length:
            length = None
            continue
        size, length = length, None
        if size > max_bytes:
            logger.warning("skipping a message of %d bytes (limit %d)", size, max_bytes)
            reject(
                JsonRpcInvalidRequest(
                    f"message of {size} bytes is larger than the limit of {max_bytes} bytes"
                    " (caveat serve --max-message-size); skipped"
                )
            )
            while size > 0:
                piece = await frames.read(min(size, SKIP_CHUNK))
                if not piece:
                    return
                size -= len(piece)
            continue
        body = await frames.read(size)
        if len(body) < size:
            return
        try:
            receive(body)
        except Exception as exc:
            # receive answers what it can; anything left is a bug, not a reason to stop reading.
            logger.exception("handling a message failed: %s", exc)
