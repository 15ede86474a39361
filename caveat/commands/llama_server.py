"""`caveat llama-server`: run llama.cpp's own server with caveat's model, for a team to share.

Builds llama-server once (minutes) from the llama.cpp sources of the installed
llama-cpp-python, so it runs the same llama.cpp as the in-process engine, then serves the
embedded model (or `--model`) on 127.0.0.1 until interrupted. Editors connect with
`caveat serve --server URL` or the `caveat.model.server` setting.
"""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType
from typing import Any

DEFAULT_PORT = 8080

log = logging.getLogger("caveat.llama_server")


def register(sub: Any) -> None:
    """Add the `llama-server` subcommand."""
    p = sub.add_parser(
        "llama-server",
        help="run llama.cpp's server with caveat's model (a shared engine for --server)",
        description="Build (once) and run llama.cpp's llama-server on 127.0.0.1 with the"
        " embedded model or --model, with --parallel slots for several editors.",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: 8080)")
    p.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="slots: requests served at once"
    )
    p.add_argument(
        "--model", metavar="PATH", default=None, help="GGUF model file (default: embedded)"
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = auto)")
    p.add_argument("--ctx", type=int, default=4096, help="context window per slot, in tokens")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build if needed, start, print the URL, serve until Ctrl-C or SIGTERM."""
    from caveat.commands.common import fail, progress_bar
    from caveat.engine.errors import ModelError
    from caveat.engine.model import cache_dir, default_threads, resolve_model_path
    from caveat.engine.remote.build import BuildError, binary_path, ensure_built
    from caveat.engine.remote.process import LlamaServer

    if not 1 <= args.parallel <= 64:
        return fail(f"--parallel must be from 1 to 64, got {args.parallel}")
    try:
        with progress_bar() as bar:
            if not binary_path().exists():
                bar.add_task("building llama-server (once; several minutes)", total=None)
                print("caveat: building llama-server once (several minutes) ...", flush=True)
            binary = ensure_built()
        model = resolve_model_path(args.model)
    except (BuildError, ModelError) as exc:
        return fail(str(exc))
    log_file = cache_dir() / f"llama-server-{args.port}.log"
    server = LlamaServer(
        binary,
        model,
        threads=args.threads or default_threads(),
        n_ctx=args.ctx,
        parallel=args.parallel,
        port=args.port,
        log_file=log_file,
    )
    try:
        server.start()
    except BuildError as exc:
        return fail(f"{exc} (log: {log_file})")

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"llama-server: {model.name} on {server.url}, {args.parallel} slot(s) of {args.ctx}"
        f" tokens (log: {log_file}).\nConnect editors with `caveat serve --server {server.url}`"
        " or the caveat.model.server setting. Ctrl-C stops it.",
        flush=True,
    )
    try:
        code = server.wait()
    except KeyboardInterrupt:
        server.close()
        return 0
    return fail(f"llama-server stopped (exit {code}); see {log_file}", code or 1)
