"""`caveat complete FILE:LINE:COL`: stream a completion, each token coloured by confidence."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from caveat.annotate.alternatives import with_choices
from caveat.annotate.context_sources import file_chunks, read_source
from caveat.annotate.provenance import TrackedSpan
from caveat.annotate.regions import offer_from_region, scored_units, track
from caveat.commands.common import add_model_args, fail, open_backend
from caveat.engine.backend import Backend
from caveat.engine.context import ContextChunk, RepoContext, select_chunks, words
from caveat.engine.errors import ModelError
from caveat.engine.types import Completion, CompletionRequest
from caveat.grammars.registry import language_for_path
from caveat.records.types import TokenRecord
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.types import Thresholds
from caveat.server.positions import split_lines

# Probability bands for the terminal colours (the LSP uses calibrated span levels instead).
_BANDS = ((0.8, "green"), (0.5, "yellow"), (0.2, "dark_orange"), (0.0, "bold red"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `complete` subcommand."""
    p = sub.add_parser(
        "complete",
        help="complete a file at a position, colouring tokens by confidence",
        description="Complete FILE at LINE:COL (1-based, like compiler messages). The text "
        "before the position is the prompt; for FIM models the text after it is the suffix.",
    )
    p.add_argument("location", metavar="FILE:LINE[:COL]", help="e.g. examples/fib.py:5:5")
    add_model_args(p, remote=True)
    p.add_argument("--max-tokens", type=int, default=64, help="most tokens to generate")
    p.add_argument(
        "--healing", choices=("byte", "token", "none"), default="byte", help="token healing mode"
    )
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    p.add_argument(
        "--typical-p",
        type=float,
        default=1.0,
        help="locally typical sampling mass (1 = off; with --temperature > 0)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top-k", type=int, default=5, help="alternatives recorded per token")
    p.add_argument(
        "--decoding",
        choices=("greedy", "adaptive", "cautious"),
        default="greedy",
        help="adaptive: rerank uncertain steps (AdaDec); cautious: multi-trial sampling (CNTP)",
    )
    p.add_argument(
        "--context",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="other files the model sees before this one (repository context)",
    )
    p.add_argument(
        "--context-tokens", type=int, default=1024, help="most prompt tokens the context takes"
    )
    p.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="STR",
        type=stop_string,
        help='stop before this text (repeatable; escapes as in Python: --stop "\\n" ends the '
        "completion at the end of its line)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument(
        "--alternatives",
        action="store_true",
        help="with --json: compute each uncertain span's alternatives (as the editor's hover)",
    )
    p.set_defaults(func=run)


def stop_string(text: str) -> str:
    """A --stop value with backslash escapes read (`\\n` is a newline); never empty."""
    value = text.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
    if not value:
        raise argparse.ArgumentTypeError("a stop string cannot be empty")
    return value


def parse_location(location: str) -> tuple[Path, int, int | None]:
    """Split FILE:LINE[:COL] (1-based); a Windows drive letter stays part of the path."""
    parts = location.rsplit(":", 2)
    nums: list[int] = []
    while len(parts) > 1 and parts[-1].isdigit() and len(nums) < 2:
        nums.insert(0, int(parts.pop()))
    if not nums:
        raise ValueError(f"expected FILE:LINE[:COL], got {location!r}")
    path = Path(":".join(parts))
    return path, nums[0], nums[1] if len(nums) > 1 else None


def split_at(text: str, line: int, col: int | None) -> tuple[str, str]:
    """Prefix and suffix of `text` at 1-based line and column (column in characters)."""
    lines = split_lines(text)  # LSP's line breaks: an editor's line numbers count these only
    if line < 1 or line > max(len(lines), 1) + (1 if text.endswith(("\n", "\r")) else 0):
        raise ValueError(f"line {line} is outside the file (it has {len(lines)} lines)")
    start = sum(len(ln) for ln in lines[: line - 1])
    current = lines[line - 1] if line - 1 < len(lines) else ""
    body = current.rstrip("\r\n")
    if col is None:
        col = len(body) + 1
    if col < 1 or col > len(body) + 1:
        raise ValueError(f"column {col} is outside line {line} (it has {len(body)} characters)")
    at = start + col - 1
    return text[:at], text[at:]


def colour(record: TokenRecord) -> str:
    """Rich style for a token by the probability the model gave it."""
    p = math.exp(record.logprob)
    return next(style for bound, style in _BANDS if p >= bound)


def completion_json(
    c: Completion,
    model: dict[str, Any],
    spans: Sequence[TrackedSpan] = (),
    context: RepoContext | None = None,
) -> dict[str, Any]:
    """The `--json` object: text, stop reason, per-token records, spans, timings, model.

    `spans` are the completion's scored units with offsets relative to its text (`level`
    None where an editor would not underline it); `context` the chunks of other files the
    prompt held.
    """
    return {
        "id": c.id,
        "text": c.text,
        "stop_reason": c.stop_reason,
        "prompt_mode": c.prompt_mode,
        "backend": c.backend,
        "healing": {
            "mode": c.healing.mode,
            "fragment": c.healing.fragment.decode("utf-8", "replace"),
            "cover": c.healing.cover_text,
            "cover_tokens": list(c.healing.cover),
            "candidates": c.healing.candidates,
            "extra_passes": c.healing.extra_passes,
            "ms": c.healing.ms,
        },
        "tokens": [
            {
                "id": r.id,
                "bytes": r.bytes.hex(),
                "text": r.text,
                "offset": r.offset,
                "logprob": r.logprob,
                "entropy": r.entropy,
                # From a serving engine: [low, high] from its top k; absent when exact.
                **({"entropy_bounds": list(r.entropy_bounds)} if r.entropy_bounds else {}),
                "margin": r.margin if math.isfinite(r.margin) else None,
                "top": [{"id": a.id, "text": a.text, "logprob": a.logprob} for a in r.top],
            }
            for r in c.records
        ],
        "spans": [span.to_json() for span in spans],
        "timings": {
            "prefill_ms": c.timings.prefill_ms,
            "first_token_ms": c.timings.first_token_ms,
            "total_ms": c.timings.total_ms,
            "tokens_per_second": c.timings.tokens_per_second,
        },
        "prompt_tokens": c.prompt_tokens,
        "prompt_tokens_evaluated": c.prompt_tokens_evaluated,
        "context": [chunk.to_json() for chunk in context.chunks] if context else [],
        "model": model,
    }


def completion_spans(
    engine: Backend,
    c: Completion,
    prefix: str,
    suffix: str,
    language: str | None,
    thresholds: Thresholds,
    alternatives: bool,
) -> tuple[TrackedSpan, ...]:
    """Every scored unit of a completion placed between `prefix` and `suffix`, in text order.

    Offsets are relative to the completion text, as an editor would get them on acceptance.
    The units an editor would underline carry their level (the rest None); with
    `alternatives`, each underlined one has its list, computed as the hover computes it.
    """
    text = prefix + c.text + suffix
    base, length = len(prefix), len(c.text)
    units, chosen = scored_units(
        text, base, c.records, language, thresholds, length, generated=True
    )
    shown = {(u.start, u.end) for u in chosen}
    listed = [u if (u.start, u.end) in shown else dataclasses.replace(u, level=None) for u in units]
    region = track(
        c.id, text, base, c.records, listed, thresholds, length, generated=True, every_unit=True
    )
    if alternatives:
        underlined = dataclasses.replace(region, spans=tuple(s for s in region.spans if s.level))
        computed = {s.id: s for s in with_choices(engine, text, underlined, language).spans}
        region = dataclasses.replace(
            region, spans=tuple(computed.get(s.id, s) for s in region.spans)
        )
    return offer_from_region(region, c.text).spans


def cli_context(
    engine: Backend, path: Path, prefix: str, suffix: str, files: Sequence[str], budget: int
) -> RepoContext | None:
    """The chunks of `files` chosen for a completion of `path` (None without files).

    Huge, binary and unreadable files are skipped with a warning.
    """
    if not files:
        return None
    wanted = words(prefix[: prefix.rfind("\n") + 1] + suffix)
    first: list[ContextChunk] = []
    rest: list[ContextChunk] = []
    for name in files:
        text = read_source(Path(name))
        if text is None:
            continue
        a, b = file_chunks(Path(name).as_posix(), text, language_for_path(name), wanted)
        first += a
        rest += b
    chunks = select_chunks(
        first + rest,
        cursor_text=prefix[-16_000:] + suffix[:16_000],
        budget=budget,
        count=lambda s: engine.count_tokens(s),
        language=language_for_path(str(path)),
    )
    return RepoContext(path.name, chunks) if chunks else None


def summary(c: Completion) -> str:
    """One line: tokens, speed, entropy, stop reason, healing."""
    ents = [r.entropy for r in c.records]
    mean_h = sum(ents) / len(ents) if ents else 0.0
    parts = [
        f"{len(c.records)} tokens",
        f"{c.timings.tokens_per_second:.1f} tok/s",
        f"first token {c.timings.first_token_ms:.0f} ms",
        f"entropy mean {mean_h:.2f} / max {max(ents, default=0.0):.2f} nats",
        f"stop: {c.stop_reason}",
    ]
    frag = c.healing.fragment.decode("utf-8", "replace")
    if c.healing.mode != "none" and frag and c.healing.cover_text != frag:
        parts.append(f"healed {frag!r} -> {c.healing.cover_text!r} ({c.healing.mode})")
    return " · ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Complete at the location and print the result."""
    try:
        path, line, col = parse_location(args.location)
        text = path.read_text(encoding="utf-8")
        prefix, suffix = split_at(text, line, col)
    except (ValueError, UnicodeDecodeError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot read {args.location}: {exc.strerror or exc}")
    engine = open_backend(args)
    if isinstance(engine, int):
        return engine
    try:
        return _complete(args, engine, path, prefix, suffix)
    except ModelError as exc:  # a serving engine that went away or refused mid-request
        return fail(str(exc))


def _complete(
    args: argparse.Namespace, engine: Backend, path: Path, prefix: str, suffix: str
) -> int:
    thresholds = load_thresholds(engine.info.sha256)
    req = CompletionRequest(
        prefix=prefix,
        suffix=suffix,
        max_tokens=args.max_tokens,
        healing=args.healing,
        temperature=args.temperature,
        top_p=args.top_p,
        typical_p=args.typical_p,
        seed=args.seed,
        top_k=args.top_k,
        stop=tuple(args.stop),
        decoding=args.decoding,
        entropy_threshold=thresholds.entropy,
        language=language_for_path(str(path)),
        context=cli_context(engine, path, prefix, suffix, args.context, args.context_tokens),
    )
    out = Console(highlight=False, soft_wrap=True)
    if args.json:
        c = engine.complete(req)
        language = language_for_path(str(path))
        spans = completion_spans(engine, c, prefix, suffix, language, thresholds, args.alternatives)
        body = completion_json(c, engine.info.to_json(), spans, req.context)
        json.dump(body, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0

    def show(record: TokenRecord) -> None:
        out.print(Text(record.text, style=colour(record)), end="")

    # The cursor's line up to the cursor, dimmed, so the completion reads in context.
    out.print(Text(prefix[prefix.rfind("\n") + 1 :], style="dim"), end="")
    c = engine.complete(req, on_token=show)
    out.print()
    Console(stderr=True, highlight=False).print(Text(summary(c), style="dim"))
    return 0
