"""Subcommands of the `caveat` command line, one module each with `register(subparsers)`."""
