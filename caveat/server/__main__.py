"""`python -m caveat.server` runs `caveat serve` (stdio unless told otherwise)."""

import argparse
import sys

from caveat.commands import serve

parser = argparse.ArgumentParser(prog="python -m caveat.server")
serve.register(parser.add_subparsers())
sys.exit(serve.run(parser.parse_args(["serve", *sys.argv[1:]])))
