"""`caveat scan FILE`: teacher-force a file and show where the model is unsure of it.

Prints the file with uncertain spans highlighted, or (`--json`) the spans with 0-based LSP
positions (UTF-16 columns). These are the same spans the language server publishes.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from caveat.commands.common import add_model_args, fail, load_or_fail
from caveat.engine.rerank import span_alternatives
from caveat.engine.types import TokenRecord
from caveat.grammars.registry import language_for_path
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.spans import find_spans
from caveat.scoring.types import Span, SpanAlternative, Thresholds

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
    add_model_args(p)
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


def line_starts(text: str) -> list[int]:
    """Character offset where each line of `text` starts."""
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def lsp_position(text: str, starts: list[int], offset: int) -> dict[str, int]:
    """0-based line and UTF-16 character of a character offset."""
    line = bisect.bisect_right(starts, offset) - 1
    col = len(text[starts[line] : offset].encode("utf-16-le")) // 2
    return {"line": line, "character": col}


def scan_spans(
    engine: Scanner,
    text: str,
    language: str | None,
    thresholds: Thresholds,
    lines: tuple[int, int] | None = None,
) -> tuple[list[Span], list[TokenRecord]]:
    """Spans of `text` (restricted to 1-based `lines`), with the records they index."""
    starts = line_starts(text)
    lo = starts[min(lines[0], len(starts)) - 1] if lines else 0
    hi = starts[lines[1]] if lines and lines[1] < len(starts) else len(text)
    # Everything before the range is context; nothing after it is needed.
    lo_byte = len(text[:lo].encode("utf-8"))
    keep = engine.scan(text[:hi], start_byte=lo_byte)
    spans = find_spans(text, language, keep, 0, thresholds)
    return spans, keep


def alternatives(text: str, span: Span, records: list[TokenRecord]) -> tuple[SpanAlternative, ...]:
    """The span with its worst token replaced by each of that step's other top tokens.

    In a name, literal or operator the rest of the unit belonged to the replaced token's
    continuation, so it is dropped (`giraffe` with `gir` -> `name` reads `name`, not
    `nameaffe`); the server's reranker completes alternatives properly, this is the cheap view.
    """
    worst = records[span.worst_token]
    data = text.encode("utf-8")
    span_bytes = data[len(text[: span.start].encode()) : len(text[: span.end].encode())]
    span_start = len(text[: span.start].encode())
    rel = worst.offset - span_start
    out: list[SpanAlternative] = []
    for alt in worst.top:
        if alt.id == worst.id:
            continue
        atomic = span.kind in ("identifier", "literal", "operator")
        tail = b"" if atomic else span_bytes[rel + len(worst.bytes) :]
        if rel >= 0:
            new = span_bytes[:rel] + alt.bytes + tail
        else:  # the token starts before the span (leading blank): keep the span's tail
            new = alt.bytes.lstrip() + (b"" if atomic else span_bytes[worst.end - span_start :])
        new_text = new.decode("utf-8", errors="replace").strip()
        if new_text and new_text != text[span.start : span.end]:
            out.append(SpanAlternative(new_text, math.exp(alt.logprob), alt.logprob))
    return tuple(out)


def spans_json(
    text: str, spans: list[Span], records: list[TokenRecord], with_alternatives: bool
) -> list[dict[str, Any]]:
    """The JSON form of spans: LSP positions, score, level, tokens, alternatives."""
    starts = line_starts(text)
    out = []
    for span in spans:
        alts = (
            (span.alternatives or alternatives(text, span, records))
            if with_alternatives
            else span.alternatives
        )
        out.append(
            {
                "start": lsp_position(text, starts, span.start),
                "end": lsp_position(text, starts, span.end),
                "text": text[span.start : span.end],
                "kind": span.kind,
                "score": round(span.score, 4),
                "probability": round(span.probability, 4),
                "doubt": round(span.doubt, 3),
                "level": span.level,
                "tokens": [
                    {
                        "text": records[i].text,
                        "logprob": round(records[i].logprob, 4),
                        "entropy": round(records[i].entropy, 4),
                    }
                    for i in span.token_indices
                ],
                "alternatives": [
                    {"text": a.text, "probability": round(a.probability, 4), "score": a.score}
                    for a in alts
                ],
            }
        )
    return out


def run(args: argparse.Namespace) -> int:
    """Scan one file and print its uncertain spans."""
    try:
        text = args.file.read_text("utf-8")
        lines = parse_range(args.range) if args.range else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return fail(f"cannot scan {args.file}: {exc}")
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    language = args.language or language_for_path(str(args.file))
    thresholds = load_thresholds(engine.info.sha256)
    spans, records = scan_spans(engine, text, language, thresholds, lines)
    if args.alternatives:  # reranked: each alternative completed to the end of its unit
        spans = [
            replace(s, alternatives=span_alternatives(engine, text, s, records, language=language))
            for s in spans
        ]
    if args.json:
        body = spans_json(text, spans, records, args.alternatives)
        print(json.dumps({"file": str(args.file), "language": language, "spans": body}))
        return 0
    _print_highlighted(text, spans, records, lines, args.alternatives)
    return 0


def _print_highlighted(
    text: str,
    spans: list[Span],
    records: list[TokenRecord],
    lines: tuple[int, int] | None,
    with_alternatives: bool,
) -> None:
    out = Console(highlight=False)
    styled = Text(text)
    for span in spans:
        styled.stylize(_STYLE[span.level or "hint"], span.start, span.end)
    all_lines = styled.split("\n", allow_blank=True)
    lo, hi = lines or (1, len(all_lines))
    width = len(str(hi))
    for n in range(lo, min(hi, len(all_lines)) + 1):
        out.print(Text(f"{n:>{width}} │ ", style="dim") + all_lines[n - 1])
    starts = line_starts(text)
    out.print()
    for span in spans:
        pos = lsp_position(text, starts, span.start)
        alts = (span.alternatives or alternatives(text, span, records)) if with_alternatives else ()
        extra = "  (expected: " + ", ".join(f"{a.text} {a.probability:.0%}" for a in alts[:3])
        extra = extra + ")" if alts else ""
        out.print(
            Text(f"{pos['line'] + 1}:{pos['character'] + 1} ", style="dim")
            + Text(f"{span.level:<11}", style=_STYLE[span.level or "hint"])
            + Text(f" {span.kind:<10} {span.probability:6.1%}  {text[span.start : span.end]!r}")
            + Text(extra, style="dim")
        )
    out.print(Text(f"{len(spans)} uncertain span(s)", style="bold"))
