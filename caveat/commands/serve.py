"""`caveat serve`: run the language server over stdio (default), TCP or WebSocket."""

from __future__ import annotations

import argparse
import logging
from typing import Any

DEFAULT_PORT = 2087
#: Mirrors caveat.server.transport.MAX_MESSAGE_BYTES (not imported: `caveat --help` stays fast).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def register(subparsers: Any) -> None:
    """Add the `serve` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="run the language server",
        description="Run the caveat language server (LSP) over stdio, TCP or WebSocket.",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="use stdin/stdout (default)")
    transport.add_argument("--tcp", action="store_true", help="listen on a TCP port")
    transport.add_argument("--ws", action="store_true", help="listen for WebSocket connections")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind for --tcp/--ws (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port for --tcp/--ws (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=MAX_MESSAGE_BYTES,
        metavar="BYTES",
        help=f"largest LSP message accepted; larger ones are answered with an error and skipped"
        f" (default: {MAX_MESSAGE_BYTES})",
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write the server log to PATH")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: protocol traffic)"
    )
    parser.set_defaults(func=run)


def _configure_logging(log_file: str | None, verbosity: int) -> None:
    """Log to stderr (stdout is the LSP transport) and optionally to a file."""
    level = logging.DEBUG if verbosity > 0 else logging.INFO
    caveat_log = logging.getLogger("caveat")
    caveat_log.setLevel(level)
    # pygls logs every message body at INFO/DEBUG: keep it quiet unless asked twice.
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=None, format="%(levelname)s %(name)s: %(message)s")
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
        )
        root.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    """Start the server on the chosen transport; returns the exit code when the client leaves.

    0 after `shutdown` + `exit` or a closed stream; 1 for `exit` without `shutdown` (LSP).
    """
    _configure_logging(args.log_file, args.verbose)
    from caveat.server import create_server
    from caveat.server.memory import tune_allocator

    tune_allocator()

    server = create_server()
    server.max_message_bytes = max(1024, args.max_message_size)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    elif args.ws:
        server.start_ws(args.host, args.port)
    else:
        server.start_io()
    code = server.protocol.exit_code
    return 0 if code is None else code
