"""`caveat serve`: run the language server over stdio (default), TCP or WebSocket."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caveat.commands.server_args import add_server_args

if TYPE_CHECKING:
    from caveat.server.server import CaveatServer

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
        "--token-file",
        metavar="PATH",
        help="where --tcp/--ws write the token a client must present (mode 0600; default:"
        " tcp-PORT.token or ws-PORT.token in the user runtime directory, e.g."
        " $XDG_RUNTIME_DIR/caveat)",
    )
    parser.add_argument(
        "--print-token",
        action="store_true",
        help="with --tcp/--ws: also print the token on stdout, one line, once listening",
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=MAX_MESSAGE_BYTES,
        metavar="BYTES",
        help=f"largest LSP message accepted; larger ones are answered with an error and skipped"
        f" (default: {MAX_MESSAGE_BYTES})",
    )
    add_server_args(parser)
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

    0 after `shutdown` + `exit` or a closed stream; 1 for `exit` without `shutdown` (LSP);
    2 when `--ws` lacks the `websockets` package or the token file cannot be written.
    """
    _configure_logging(args.log_file, args.verbose)
    if args.ws:
        try:
            import websockets  # noqa: F401
        except ImportError:
            logging.getLogger("caveat").error(
                "caveat serve --ws needs the websockets package: pip install 'caveat[ws]'"
            )
            return 2
    from caveat.server import create_server
    from caveat.server.memory import tune_allocator

    tune_allocator()

    server = create_server()
    server.max_message_bytes = max(1024, args.max_message_size)
    if args.server:
        # The client's own settings still win: these are the defaults it merges onto.
        model = dataclasses.replace(
            server.base_settings.model,
            server=args.server,
            server_api=args.server_api,
            api_key_env=args.api_key_env or "",
            allow_remote=args.allow_remote,
        )
        server.base_settings = dataclasses.replace(server.base_settings, model=model)
        server.settings = server.base_settings
    if args.tcp or args.ws:
        return _serve_socket(server, args)
    server.start_io()
    code = server.protocol.exit_code
    return 0 if code is None else code


def _serve_socket(server: CaveatServer, args: argparse.Namespace) -> int:
    """Serve one client over TCP or WebSocket, after it presents the token (see SECURITY.md)."""
    from caveat.server import auth
    from caveat.server.sockets import SocketServer, addresses, hide_model_errors

    log = logging.getLogger("caveat.serve")
    kind = "ws" if args.ws else "tcp"
    token = auth.new_token()
    written: list[Path] = []
    sockets = SocketServer(server, token, server.max_message_bytes)
    hide_model_errors(server)

    def announce(listener: Any) -> None:
        bound = addresses(listener)
        path = Path(args.token_file) if args.token_file else auth.token_path(kind, bound[0][1])
        auth.write_token(path, token)
        written.append(path)
        where = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in bound)
        log.info("caveat serve --%s: listening on %s; token in %s", kind, where, path)
        if args.print_token:
            print(token, flush=True)

    listen = sockets.ws_listen if args.ws else sockets.tcp_listen
    try:
        sockets.run(lambda: listen(args.host, args.port), announce)
    except (auth.TokenFileError, OSError) as exc:
        log.error("caveat serve --%s: %s", kind, exc)
        return 2
    finally:
        for path in written:
            auth.remove_token(path, token)
    code = server.protocol.exit_code
    return 0 if code is None else code
