"""A running `llama-server` on 127.0.0.1: started, waited for, stopped.

Used by `caveat llama-server` (a team's shared engine on this machine), by the tests of the
remote backend, and by the benchmarks that compare against llama.cpp's own server. Bound to
loopback only: exposing it to a network is the operator's decision (a reverse proxy with TLS
and a key), not a default.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from caveat.engine.remote.build import BuildError


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _discard(stream: IO[bytes]) -> None:
    """Read a pipe to its end, keeping nothing."""
    while stream.read(65536):
        pass


class LlamaServer:
    """A llama-server process with `parallel` slots of `n_ctx` tokens each; a context manager."""

    def __init__(
        self,
        binary: Path,
        model: Path,
        *,
        threads: int,
        n_ctx: int,
        parallel: int = 1,
        port: int = 0,
        log_file: Path | None = None,
        api_key: str | None = None,
        flash_attn: bool = False,
    ) -> None:
        self.binary = binary
        self.model = model
        self.threads = threads
        self.n_ctx = n_ctx
        self.parallel = max(1, parallel)
        self.port = port or free_port()
        self.log_file = log_file
        self.api_key = api_key
        self.flash_attn = flash_attn
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The llama-server command line."""
        key = ["--api-key", self.api_key] if self.api_key else []
        return [
            str(self.binary),
            *key,
            "-m",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "-t",
            str(self.threads),
            "-tb",
            str(self.threads),
            # Each slot gets n_ctx tokens, as one in-process engine would.
            "-c",
            str(self.n_ctx * self.parallel),
            "-np",
            str(self.parallel),
            # caveat's engine keeps a full-size sliding-window cache so that a prompt can be
            # truncated and reused; give llama-server the same, or its reuse would be crippled.
            "--swa-full",
            # Flash attention is on by default in llama-server ("auto") and off in the in-process
            # engine; on this CPU build it moves log-probabilities by up to ~0.08 nats (measured
            # on the embedded model), more than the calibration should absorb. Off unless asked
            # (the latency benchmark's reference runs llama-server as shipped).
            "-fa",
            "auto" if self.flash_attn else "off",
            "--no-webui",
        ]

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, timeout: float = 120.0) -> None:
        """Start the process and wait until it answers /health; raise BuildError if it fails."""
        env = dict(os.environ)
        libdir = str(self.binary.parent)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p
        )
        err: int | IO[bytes] = subprocess.PIPE
        if self.log_file is not None:
            err = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            self.command(), env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        self._wait_ready(timeout)

    def close(self) -> None:
        """Stop the server process."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def wait(self) -> int:
        """Block until the process exits; its exit code."""
        if self._proc is None:
            raise RuntimeError("llama-server is not running")
        return self._proc.wait()

    def pid(self) -> int:
        """The server's process id (for RSS readings)."""
        if self._proc is None:
            raise RuntimeError("llama-server is not running")
        return self._proc.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                err = ""
                if self._proc.stderr is not None:
                    err = self._proc.stderr.read().decode(errors="replace")
                raise BuildError(f"llama-server exited at start: {err[-800:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    self._drain_stderr()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.close()
        raise BuildError("llama-server did not become ready in time")

    def _drain_stderr(self) -> None:
        # The server logs every request to stderr; a full pipe would block it. Discard it.
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        threading.Thread(target=_discard, args=(proc.stderr,), daemon=True).start()
