"""`caveat scan FILE`: teacher-force a file and show where the model is unsure of it.

Prints the file with uncertain spans highlighted, or (`--json`) the spans with 0-based LSP
positions (UTF-16 columns). These are the same spans the language server publishes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types
from pygls.workspace import PositionCodec
from rich.console import Console
from rich.text import Text

from caveat.annotate.alternatives import with_choices
from caveat.annotate.provenance import Region
from caveat.annotate.regions import SCAN_ID, annotate
from caveat.annotate.words import level_sentence, percent, quoted, token_sentence
from caveat.commands.common import add_model_args, fail, open_backend
from caveat.engine.errors import ModelError
from caveat.grammars.registry import language_for_path
from caveat.records.types import TokenRecord
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.types import Thresholds
from caveat.server.positions import LINE_BREAK, PositionMap

_STYLE = {"warning": "bold red underline", "information": "yellow underline", "hint": "cyan"}


class Scanner(Protocol):
    """What scanning needs from the engine."""

    def scan(self, text: str, *, start_byte: int = 0) -> list[TokenRecord]:
        """Teacher-forced records for the tokens of `text` from `start_byte` on."""
        ...


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `scan` subcommand."""
    p = sub.add_parser(
        "scan",
        help="show where the model is unsure of an existing file",
        description="Teacher-force FILE through the model and highlight the syntax units it "
        "found surprising (the spans `caveat.scanDocument` publishes).",
    )
    p.add_argument("file", type=Path, help="source file to scan")
    add_model_args(p, remote=True)
    p.add_argument("--json", action="store_true", help="print the spans as JSON")
    p.add_argument("--alternatives", action="store_true", help="list what the model expected")
    p.add_argument("--range", metavar="L1:L2", default=None, help="only lines L1..L2 (1-based)")
    p.add_argument("--language", default=None, help="languageId (default: from the extension)")
    p.set_defaults(func=run)


def parse_range(spec: str) -> tuple[int, int]:
    """'L1:L2' (1-based, inclusive) as a pair; 'L' alone is one line."""
    a, _, b = spec.partition(":")
    lo, hi = int(a), int(b or a)
    if lo < 1 or hi < lo:
        raise ValueError(f"bad line range {spec!r}: expected L1:L2 with 1 <= L1 <= L2")
    return lo, hi


def line_range(text: str, lines: tuple[int, int] | None) -> tuple[int, int]:
    """Char offsets [lo, hi) of the 1-based inclusive `lines` of `text` (all of it for None)."""
    if lines is None:
        return 0, len(text)
    starts = [0, *(m.end() for m in LINE_BREAK.finditer(text))]
    lo = starts[min(lines[0], len(starts)) - 1]
    hi = starts[lines[1]] if lines[1] < len(starts) else len(text)
    return lo, hi


def scan_region(
    engine: Scanner,
    text: str,
    language: str | None,
    thresholds: Thresholds,
    lines: tuple[int, int] | None = None,
) -> Region:
    """The scanned region of `text` (restricted to 1-based `lines`) with its uncertain spans."""
    lo, hi = line_range(text, lines)
    # Everything before the range is context; nothing after it is needed.
    lo_byte = len(text[:lo].encode("utf-8"))
    records = engine.scan(text[:hi], start_byte=lo_byte)
    return annotate(SCAN_ID, text, 0, records, language, thresholds, len(text), generated=False)


def spans_json(text: str, region: Region) -> list[dict[str, Any]]:
    """The JSON form of a scan's spans: char offsets, LSP range (UTF-16), the span's answer."""
    positions = PositionMap(text, PositionCodec(types.PositionEncodingKind.Utf16))
    out = []
    for span in region.spans:
        body = span.to_json()
        body["range"] = {
            "start": _position_json(positions.position(span.start)),
            "end": _position_json(positions.position(span.end)),
        }
        body["tokens"] = [
            {
                "text": text[t.start : t.end],
                "logprob": round(t.logprob, 4),
                "entropy": round(t.entropy, 4),
            }
            for t in region.tokens
            if span.start <= t.start < span.end or t.start <= span.start < t.end
        ]
        out.append(body)
    return out


def _position_json(position: types.Position) -> dict[str, int]:
    return {"line": position.line, "character": position.character}


def run(args: argparse.Namespace) -> int:
    """Scan one file and print its uncertain spans."""
    try:
        text = args.file.read_text("utf-8")
        lines = parse_range(args.range) if args.range else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return fail(f"cannot scan {args.file}: {exc}")
    engine = open_backend(args)
    if isinstance(engine, int):
        return engine
    language = args.language or language_for_path(str(args.file))
    thresholds = load_thresholds(engine.info.sha256)
    try:
        region = scan_region(engine, text, language, thresholds, lines)
        if args.alternatives:  # the alternatives every surface shows: valid, whole-unit, ranked
            region = with_choices(engine, text, region, language)
    except ModelError as exc:  # e.g. a serving engine that cannot score prompt tokens
        return fail(str(exc))
    if args.json:
        body = spans_json(text, region)
        print(json.dumps({"file": str(args.file), "language": language, "spans": body}))
        return 0
    _print_highlighted(text, region, lines)
    return 0


def _print_highlighted(text: str, region: Region, lines: tuple[int, int] | None) -> None:
    out = Console(highlight=False)
    styled = Text(text)
    for span in region.spans:
        styled.stylize(_STYLE[span.level or "hint"], span.start, span.end)
    all_lines = styled.split("\n", allow_blank=True)
    lo, hi = lines or (1, len(all_lines))
    width = len(str(hi))
    for n in range(lo, min(hi, len(all_lines)) + 1):
        out.print(Text(f"{n:>{width}} │ ", style="dim") + all_lines[n - 1])
    positions = PositionMap(text, PositionCodec(types.PositionEncodingKind.Utf32))
    out.print()
    for span in region.spans:
        pos = positions.position(span.start)
        alts = span.choices or ()
        extra = "  (expected: " + ", ".join(f"{a.text} {percent(a.probability)}" for a in alts[:3])
        extra = extra + ")" if alts else ""
        out.print(
            Text(f"{pos.line + 1}:{pos.character + 1} ", style="dim")
            + Text(f"{span.level or '':<11}", style=_STYLE[span.level or "hint"])
            + Text(f" {span.kind:<10} {quoted(span.chosen)}: {token_sentence(span)}")
            + Text(f" ({level_sentence(span)})", style="dim")
            + Text(extra, style="dim")
        )
    out.print(Text(f"{len(region.spans)} uncertain span(s)", style="bold"))
