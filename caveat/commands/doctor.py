"""`caveat doctor`: versions, model file, llama.cpp system info, threads, GPU offload."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import sys
from typing import Any

import llama_cpp

from caveat import __version__
from caveat.commands.common import add_model_args, fail, open_engine
from caveat.engine.errors import ModelError
from caveat.engine.model import cache_dir, default_threads
from caveat.engine.offload import (
    Device,
    backends,
    devices,
    gpu_available,
    layers_on_gpu,
    plan_offload,
)

_PACKAGES = ("llama-cpp-python", "numpy", "pygls", "lsprotocol", "tree-sitter", "rich")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `doctor` subcommand."""
    p = sub.add_parser(
        "doctor", help="print versions, model, llama.cpp system info, backends and GPU offload"
    )
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def _describe(device: Device) -> str:
    """'CUDA0: NVIDIA ... (GPU, 70.1 of 80.0 GB free)'."""
    memory = f"{device.memory_free / 1e9:.1f} of {device.memory_total / 1e9:.1f} GB free"
    return f"{device.name}: {device.description} ({device.kind}, {memory})"


def run(args: argparse.Namespace) -> int:
    """Collect the report; a model that fails to load is reported and exits 2."""
    report: dict[str, Any] = {
        "caveat": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "cache_dir": str(cache_dir()),
        "threads_default": default_threads(),
        "llama_system_info": llama_cpp.llama_print_system_info().decode(errors="replace"),
    }
    plan = plan_offload(args.gpu_layers, gpu_available())
    offload: dict[str, Any] = {
        "backends": backends(),
        "devices": [d.to_json() for d in devices()],
        "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
        "requested": args.gpu_layers,
        "n_gpu_layers": plan.n_gpu_layers,
        "message": plan.message,
    }
    report["offload"] = offload
    try:
        engine = open_engine(args)
    except ModelError as exc:
        if args.json:
            report["model_error"] = str(exc)
            print(json.dumps(report, indent=2))
        return fail(str(exc))
    report["model"] = engine.info.to_json()
    report["n_ctx"] = engine.n_ctx
    on_gpu, total = layers_on_gpu(engine.llm)
    offload.update(layers_on_gpu=on_gpu, layers_total=total, device="GPU" if on_gpu else "CPU")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    width = max(len(k) for k in ("caveat", "python", "platform", "cache", "threads", "model"))
    rows = [
        ("caveat", report["caveat"]),
        ("python", report["python"]),
        ("platform", report["platform"]),
        *((f"  {k}", v) for k, v in report["packages"].items()),
        ("cache", report["cache_dir"]),
        ("threads", str(report["threads_default"])),
        ("model", f"{engine.info.name} ({engine.info.arch})"),
        ("  path", engine.info.path),
        ("  sha256", engine.info.sha256),
        ("  size", f"{engine.info.size / 1e6:.1f} MB"),
        ("  vocab", str(engine.info.n_vocab)),
        ("  context", f"{engine.n_ctx} (trained {engine.info.n_ctx_train})"),
        ("  FIM", "yes" if engine.info.fim.available else "no (prefix completion)"),
        ("llama.cpp", report["llama_system_info"].strip()),
        ("backends", ", ".join(offload["backends"])),
        *(("  device", _describe(d)) for d in devices()),
        (
            "offload",
            f"{on_gpu}/{total} layers on the GPU: runs on the {offload['device']} "
            f"(--gpu-layers {args.gpu_layers})",
        ),
    ]
    if plan.message and not plan.fallback:  # a fallback was already logged as a warning
        rows.append(("  note", plan.message))
    for key, value in rows:
        print(f"{key:<{width + 2}} {value}")
    return 0
