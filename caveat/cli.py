"""`caveat` command line: serve | complete | scan | calibrate | doctor | llama-server | bench."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from caveat import __version__
from caveat.bench import register as register_bench
from caveat.commands import calibrate, complete, doctor, llama_server, scan, serve

# Order here is the order `caveat --help` lists them.
COMMANDS = (serve, complete, scan, calibrate, doctor, llama_server)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="caveat",
        description="Local-model code completion that shows where the model was unsure.",
    )
    parser.add_argument("--version", action="version", version=f"caveat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    register_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `caveat` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if not logging.getLogger().handlers:
        level = logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING
        logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
