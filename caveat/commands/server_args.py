"""`--server`, `--api-key-env`, `--allow-remote`: shared by `serve` and the model commands.

Kept free of heavy imports: `caveat serve --help` must not load llama.cpp.
"""

from __future__ import annotations

import argparse


def add_server_args(parser: argparse.ArgumentParser) -> None:
    """`--server`, `--api-key-env`, `--allow-remote`: complete through a llama.cpp server."""
    parser.add_argument(
        "--server",
        metavar="URL",
        default=None,
        help="use the llama.cpp server at URL (e.g. http://127.0.0.1:8080) instead of loading a"
        " model; entropy then comes as bounds from the top 20 tokens",
    )
    parser.add_argument(
        "--server-api",
        choices=("llama-server", "openai"),
        default="llama-server",
        help="the server's API: llama.cpp's /completion (default) or OpenAI's /v1/completions",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the server's API key (sent as a Bearer token)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --server to be another machine (code is sent there)",
    )
