"""`caveat bench <name>`: benchmarks that print ratios measured in one run."""

from __future__ import annotations

import argparse

from caveat.bench import (
    alternatives,
    context,
    decode,
    fuzz,
    healing,
    latency,
    rerank,
    signal,
    soak,
    team,
)

# Listed in the order `caveat bench --help` shows them.
BENCHMARKS = (decode, healing, signal, alternatives, latency, team, rerank, soak, fuzz, context)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench` with one subcommand per benchmark module."""
    p = sub.add_parser("bench", help="run a benchmark (decode, healing, signal, ...)")
    bench_sub = p.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for module in BENCHMARKS:
        module.register(bench_sub)
