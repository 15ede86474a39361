"""Helpers shared by the subcommands: model flags, loading with progress, error reporting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from caveat.commands.server_args import add_server_args
from caveat.engine.backend import Backend
from caveat.engine.engine import Engine
from caveat.engine.errors import ModelError
from caveat.engine.loader import connect_remote, load_engine
from caveat.engine.offload import MAX_GPU_LAYERS, GpuLayers

EXIT_USAGE = 2


def gpu_layers_arg(text: str) -> GpuLayers:
    """Parse `--gpu-layers`: 'auto' or a whole number from 0 to MAX_GPU_LAYERS."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_GPU_LAYERS:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a whole number from 0 to {MAX_GPU_LAYERS}, got {text!r}"
        )
    return value


def add_model_args(parser: argparse.ArgumentParser, *, remote: bool = False) -> None:
    """`--model`, `--threads`, `--ctx`, `--gpu-layers`: which model to load and how.

    With `remote`, also `--server URL` (a llama.cpp server instead of a model in this process),
    `--api-key-env VAR` and `--allow-remote`.
    """
    parser.add_argument(
        "--model", metavar="PATH", default=None, help="GGUF model file (default: embedded)"
    )
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0 = auto)")
    parser.add_argument("--ctx", type=int, default=4096, help="context window in tokens")
    parser.add_argument(
        "--gpu-layers",
        metavar="N",
        type=gpu_layers_arg,
        default="auto",
        help="layers to offload to the GPU: 'auto' (all when llama.cpp sees a GPU, else 0) or N",
    )
    if remote:
        add_server_args(parser)


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Print one clear paragraph to stderr and return the exit code (no traceback)."""
    Console(stderr=True, soft_wrap=False).print(f"[bold red]caveat:[/] {message}", highlight=False)
    return code


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Progress]:
    """A rich progress bar on stderr, for model assembly and other long work."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet or not sys.stderr.isatty(),
    )
    with progress:
        yield progress


def open_engine(args: argparse.Namespace) -> Engine:
    """Load the engine the flags name, with a progress bar; raises ModelError."""
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def report(message: str, fraction: float) -> None:
            if message not in tasks:
                tasks[message] = int(bar.add_task(message, total=1.0))
            bar.update(tasks[message], completed=fraction)  # type: ignore[arg-type]

        return load_engine(
            args.model,
            n_ctx=args.ctx,
            n_threads=args.threads,
            gpu_layers=args.gpu_layers,
            progress=report,
        )


def load_or_fail(args: argparse.Namespace) -> Engine | int:
    """The engine, or the exit code after reporting a ModelError."""
    try:
        return open_engine(args)
    except ModelError as exc:
        return fail(str(exc))


def open_backend(args: argparse.Namespace, *, wire_k: int | None = None) -> Backend | int:
    """The llama.cpp server `--server` names, else the in-process engine; or an exit code.

    `wire_k`: alternatives per token asked of a server (None: the backend's default).
    """
    if getattr(args, "server", None):
        try:
            return connect_remote(
                args.server,
                api_key_env=args.api_key_env,
                allow_remote=args.allow_remote,
                api=args.server_api,
                wire_k=wire_k,
            )
        except ModelError as exc:
            return fail(str(exc))
    return load_or_fail(args)
