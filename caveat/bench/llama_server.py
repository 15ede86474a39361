"""llama.cpp's own `llama-server`, the reference engine for `caveat bench latency`.

Built once from the llama.cpp sources vendored in the llama-cpp-python source package of the
installed version (so both sides run the same llama.cpp), into the user cache. Run bound to
127.0.0.1 only, one slot, and driven through `/completion` with streaming and `n_probs`.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from caveat.engine.model import cache_dir

log = logging.getLogger(__name__)

_CMAKE_FLAGS = (
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DCMAKE_BUILD_TYPE=Release",
)


class BuildError(Exception):
    """llama-server could not be built; the message says why and what to do."""


def llama_cpp_python_version() -> str:
    """The installed llama-cpp-python version (its vendored llama.cpp is what we build)."""
    return metadata.version("llama_cpp_python")


def source_root() -> Path:
    """Where the llama.cpp sources and build of this llama-cpp-python version live."""
    return cache_dir() / "llama-server" / llama_cpp_python_version()


def binary_path() -> Path:
    """The llama-server executable inside the cached build."""
    return source_root() / "llama.cpp" / "build" / "bin" / "llama-server"


def missing_tools() -> list[str]:
    """Build tools that are not on PATH (empty when the build can run)."""
    need = ["cmake"]
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        need.append("a C++ compiler (c++, g++ or clang++)")
    return [t for t in need if t.startswith("a ") or not shutil.which(t)]


def _run(cmd: list[str], cwd: Path, log_file: Path) -> None:
    with log_file.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        rc = subprocess.call(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0:
        raise BuildError(f"`{' '.join(cmd)}` failed (exit {rc}); see {log_file}")


def _fetch_sources(root: Path, log_file: Path) -> Path:
    """Download the llama-cpp-python sdist with pip and unpack its vendored llama.cpp."""
    version = llama_cpp_python_version()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                tmp,
                f"llama-cpp-python=={version}",
            ],
            root,
            log_file,
        )
        sdists = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if not sdists:
            raise BuildError(f"pip did not produce a llama-cpp-python sdist; see {log_file}")
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(tmp, filter="data")
        vendored = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"), None)
        if vendored is None:
            raise BuildError("the llama-cpp-python sdist has no vendor/llama.cpp folder")
        target = root / "llama.cpp"
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(vendored), target)
    return target


def ensure_built(jobs: int = 2) -> Path:
    """Return the llama-server binary, building it first if needed (minutes); raise BuildError."""
    binary = binary_path()
    if binary.exists():
        return binary
    missing = missing_tools()
    if missing:
        raise BuildError(
            "llama-server is not built and cannot be: missing " + ", ".join(missing) + ". "
            "Install a C++ toolchain and cmake, or run with --no-llama-server."
        )
    root = source_root()
    root.mkdir(parents=True, exist_ok=True)
    log_file = root / "build.log"
    src = root / "llama.cpp"
    if not (src / "CMakeLists.txt").exists():
        log.info("downloading llama.cpp sources (llama-cpp-python %s)", root.name)
        src = _fetch_sources(root, log_file)
    log.info("building llama-server in %s (several minutes; log: %s)", src, log_file)
    _run(["cmake", "-B", "build", *_CMAKE_FLAGS], src, log_file)
    _run(
        ["cmake", "--build", "build", "--target", "llama-server", "llama-bench", f"-j{jobs}"],
        src,
        log_file,
    )
    if not binary.exists():
        raise BuildError(f"the build finished without {binary}; see {log_file}")
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _discard(stream: IO[bytes]) -> None:
    """Read a pipe to its end, keeping nothing."""
    while stream.read(65536):
        pass


@dataclass(frozen=True)
class ServerResult:
    """One streamed `/completion`: wall-clock times seen by the client and the server's counts."""

    first_token_ms: float
    first_visible_ms: float | None  # first chunk after which the text is not all whitespace
    total_ms: float
    tokens: int
    tokens_per_second: float
    prompt_ms: float
    prompt_tokens: int
    text: str


class LlamaServer:
    """A running llama-server on 127.0.0.1 with one slot; a context manager."""

    def __init__(self, binary: Path, model: Path, *, threads: int, n_ctx: int) -> None:
        self.binary = binary
        self.model = model
        self.threads = threads
        self.n_ctx = n_ctx
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        env = dict(os.environ)
        libdir = str(self.binary.parent)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p
        )
        cmd = [
            str(self.binary),
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
            "-c",
            str(self.n_ctx),
            "-np",
            "1",
            # caveat's engine keeps a full-size sliding-window cache so that a prompt can be
            # truncated and reused; give llama-server the same, or its reuse would be crippled.
            "--swa-full",
            "--no-webui",
        ]
        self._proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready(timeout=120.0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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

    def pid(self) -> int:
        """The server's process id (for RSS readings)."""
        if self._proc is None:
            raise RuntimeError("llama-server is not running")
        return self._proc.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
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
        raise BuildError("llama-server did not become ready in time")

    def _drain_stderr(self) -> None:
        # The server logs every request to stderr; a full pipe would block it. Discard it.
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        threading.Thread(target=_discard, args=(proc.stderr,), daemon=True).start()

    def complete(
        self, prompt: str, *, n_predict: int, n_probs: int = 5, cache_prompt: bool = True
    ) -> ServerResult:
        """Stream one greedy `/completion`; time the first content chunk and the end."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": n_predict,
            "n_probs": n_probs,
            "temperature": 0.0,
            "top_k": 1,
            "stream": True,
            "cache_prompt": cache_prompt,
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        t0 = time.perf_counter()
        conn.request("POST", "/completion", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        first: float | None = None
        visible: float | None = None
        text: list[str] = []
        final: dict[str, Any] = {}
        for raw in resp:
            line = raw.strip()
            if not line.startswith(b"data: "):
                continue
            chunk = json.loads(line[6:])
            if first is None and (chunk.get("content") or chunk.get("completion_probabilities")):
                first = time.perf_counter()
            text.append(str(chunk.get("content", "")))
            if visible is None and text[-1].strip():
                visible = time.perf_counter()
            if chunk.get("stop"):
                final = chunk
                break
        end = time.perf_counter()
        conn.close()
        timings = final.get("timings", {})
        return ServerResult(
            first_token_ms=((first or end) - t0) * 1000,
            first_visible_ms=(visible - t0) * 1000 if visible is not None else None,
            total_ms=(end - t0) * 1000,
            tokens=int(timings.get("predicted_n", 0)),
            tokens_per_second=float(timings.get("predicted_per_second", 0.0)),
            prompt_ms=float(timings.get("prompt_ms", 0.0)),
            prompt_tokens=int(timings.get("prompt_n", 0)),
            text="".join(text),
        )
