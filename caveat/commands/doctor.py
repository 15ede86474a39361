"""`caveat doctor`: versions, model file, llama.cpp system info, threads."""

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

_PACKAGES = ("llama-cpp-python", "numpy", "pygls", "lsprotocol", "tree-sitter", "rich")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `doctor` subcommand."""
    p = sub.add_parser("doctor", help="print versions, model and llama.cpp system info")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


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
    try:
        engine = open_engine(args)
    except ModelError as exc:
        if args.json:
            report["model_error"] = str(exc)
            print(json.dumps(report, indent=2))
        return fail(str(exc))
    report["model"] = engine.info.to_json()
    report["n_ctx"] = engine.n_ctx
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
    ]
    for key, value in rows:
        print(f"{key:<{width + 2}} {value}")
    return 0
