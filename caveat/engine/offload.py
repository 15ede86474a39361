"""GPU offload: which backends and devices llama.cpp sees, and how many layers go to the GPU.

The setting (`caveat.model.gpuLayers`, `--gpu-layers`) is "auto" or a layer count. "auto" offloads
every layer when llama.cpp has a GPU device and none otherwise; an explicit count the build cannot
honour is reported once and the model runs on the CPU. Records are unaffected: the decode loop
reads the same full-vocabulary logits back from whichever device computed them.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import llama_cpp
from llama_cpp import _ggml

GpuLayers: TypeAlias = int | Literal["auto"]

#: What llama-cpp-python reads as "every layer" (it hands llama.cpp 0x7FFFFFFF).
ALL_LAYERS = -1
#: Largest explicit count accepted: above any model's layer count (which means "all"), far below
#: the int32 llama.cpp stores it in.
MAX_GPU_LAYERS = 10_000

# enum ggml_backend_dev_type, in order.
_KINDS = ("CPU", "GPU", "iGPU", "accelerator", "meta")
_GPU_KINDS = frozenset({"GPU", "iGPU"})


@dataclass(frozen=True)
class Device:
    """One device llama.cpp can compute on, with the memory it reports (bytes)."""

    name: str
    description: str
    kind: str
    memory_free: int
    memory_total: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary for `caveat doctor --json`."""
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "memory_free": self.memory_free,
            "memory_total": self.memory_total,
        }


@dataclass(frozen=True)
class OffloadPlan:
    """The layer count handed to llama.cpp for a request, and what to tell the user about it."""

    requested: GpuLayers
    n_gpu_layers: int
    message: str | None = None
    fallback: bool = False

    @property
    def device(self) -> str:
        """'GPU' when any layer is offloaded, else 'CPU'."""
        return "GPU" if self.n_gpu_layers != 0 else "CPU"


@functools.cache
def _lib() -> ctypes.CDLL:
    """libggml as llama-cpp-python loaded it, with the backend registry's signatures declared."""
    lib: ctypes.CDLL = _ggml.libggml
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    for name, args, res in (
        ("ggml_backend_reg_count", [], sz),
        ("ggml_backend_reg_get", [sz], vp),
        ("ggml_backend_reg_name", [vp], ctypes.c_char_p),
        ("ggml_backend_dev_count", [], sz),
        ("ggml_backend_dev_get", [sz], vp),
        ("ggml_backend_dev_name", [vp], ctypes.c_char_p),
        ("ggml_backend_dev_description", [vp], ctypes.c_char_p),
        ("ggml_backend_dev_type", [vp], ctypes.c_int),
        ("ggml_backend_dev_memory", [vp, ctypes.POINTER(sz), ctypes.POINTER(sz)], None),
    ):
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace")


def backends() -> list[str]:
    """The backends this llama.cpp build registered (e.g. ['CUDA', 'CPU'] or ['CPU'])."""
    lib = _lib()
    return [
        _text(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)))
        for i in range(lib.ggml_backend_reg_count())
    ]


def devices() -> list[Device]:
    """Every device llama.cpp can use, with its kind and free/total memory."""
    lib = _lib()
    out: list[Device] = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        kind = int(lib.ggml_backend_dev_type(dev))
        out.append(
            Device(
                name=_text(lib.ggml_backend_dev_name(dev)),
                description=_text(lib.ggml_backend_dev_description(dev)),
                kind=_KINDS[kind] if 0 <= kind < len(_KINDS) else f"type {kind}",
                memory_free=int(free.value),
                memory_total=int(total.value),
            )
        )
    return out


def gpu_available() -> bool:
    """True when llama.cpp supports offload and sees a GPU device to offload to."""
    return bool(llama_cpp.llama_supports_gpu_offload()) and any(
        d.kind in _GPU_KINDS for d in devices()
    )


def plan_offload(requested: GpuLayers, gpu: bool) -> OffloadPlan:
    """The n_gpu_layers for a request on a build with (`gpu`) or without a GPU to offload to."""
    if requested == "auto":
        if gpu:
            return OffloadPlan(requested, ALL_LAYERS)
        return OffloadPlan(
            requested,
            0,
            "GPU layers: auto resolves to 0 because llama.cpp sees no GPU (backends: "
            f"{', '.join(backends())}); the model runs on the CPU.",
        )
    if not 0 <= requested <= MAX_GPU_LAYERS:
        raise ValueError(f"GPU layers must be 'auto' or 0..{MAX_GPU_LAYERS}, got {requested}")
    if requested == 0 or gpu:
        return OffloadPlan(requested, requested)
    return OffloadPlan(
        requested,
        0,
        f"GPU layers = {requested} asks for GPU offload, but this llama.cpp build sees no GPU "
        f"(backends: {', '.join(backends())}), so the model runs on the CPU. For a GPU build, "
        "reinstall llama-cpp-python with CUDA or Metal (README, section 'GPU') and check it "
        "with `caveat doctor`.",
        fallback=True,
    )


def layers_on_gpu(llm: llama_cpp.Llama) -> tuple[int, int]:
    """(layers offloaded, layers in the model) for a loaded model, counted as llama.cpp does.

    llama.cpp counts the repeating layers plus the output layer, and offloads only to GPU devices.
    """
    total = int(llama_cpp.llama_model_n_layer(llm.model)) + 1
    asked = int(llm.model_params.n_gpu_layers)
    if asked == 0 or not gpu_available():
        return 0, total
    return (total if asked < 0 else min(asked, total)), total
