"""Build llama.cpp's own `llama-server` once, from the sources caveat's engine runs.

The sources are the llama.cpp vendored in the llama-cpp-python source package of the installed
version, so a remote engine started by `caveat llama-server` (and the latency benchmark's
reference) runs the same llama.cpp as the in-process engine. The build goes to the user cache.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from caveat.engine.model import cache_dir

log = logging.getLogger(__name__)

_CMAKE_FLAGS = (
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DCMAKE_BUILD_TYPE=Release",
)
# /proc/cpuinfo flag -> ggml option, for builds that cannot use -march=native (see cpu_flags).
_CPU_OPTIONS = (
    ("avx", "AVX"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("f16c", "F16C"),
    ("bmi2", "BMI2"),
    ("avx512f", "AVX512"),
    ("avx512_vnni", "AVX512_VNNI"),
    ("avx512_bf16", "AVX512_BF16"),
    ("avx512vbmi", "AVX512_VBMI"),
    ("avx_vnni", "AVX_VNNI"),
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


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    """CMake flags for this CPU: none, or a build without AMX where the CPU lists it.

    Some virtual machines list amx_tile but fault on the first tile instruction, so a native
    build crashes on its first forward pass; there the other extensions are named one by one
    (the same rule `.ci/llama-cpp.sh` applies to llama-cpp-python).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text("utf-8", errors="replace")
        except OSError:
            return []
    words = set(cpuinfo.split())
    if "amx_tile" not in words:
        return []
    flags = ["-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF"]
    flags.append("-DGGML_AMX_BF16=OFF")
    flags += [f"-DGGML_{opt}=ON" for flag, opt in _CPU_OPTIONS if flag in words]
    return flags


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
    _run(["cmake", "-B", "build", *_CMAKE_FLAGS, *cpu_flags()], src, log_file)
    _run(
        ["cmake", "--build", "build", "--target", "llama-server", f"-j{jobs}"],
        src,
        log_file,
    )
    if not binary.exists():
        raise BuildError(f"the build finished without {binary}; see {log_file}")
    return binary
