"""`caveat bench context`: completions with and without repository context on stdlib packages.

Each package (`json`, `email`, `http`, ...) is copied into a temporary workspace folder. In each
module, lines that use a name defined at the top level of a sibling module (and not in the
module itself) are cut right before that name, outside import statements; a deterministic
sample of those cuts is completed greedily with byte healing, once without context and once
with the context the server would give (the definitions of imported names, read from the
workspace, chosen within the budget). Measured on the first line of each completion:
- exact line: it equals the rest of the reference line (whitespace-trimmed);
- identifier match: the share of the reference rest's cross-file names the line contains;
- warm first text: the completion is asked at the cut minus one character first, then at the
  cut (one keystroke later), and the second one's time to first text is kept;
- underlines: of the completion's characters on cross-file names, the share inside an
  uncertain span (level hint or above), as an editor would underline them.
Develop on one package and report on the others (`--dev` / `--eval`).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caveat.annotate.context_sources import Workspace, import_chunks
from caveat.commands.common import add_model_args, load_or_fail
from caveat.commands.complete import completion_spans
from caveat.engine.context import RepoContext, select_chunks
from caveat.engine.engine import Engine
from caveat.engine.types import CompletionRequest
from caveat.grammars.imports import definitions
from caveat.scoring.calibration import load_thresholds
from caveat.scoring.types import Thresholds

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Case:
    """One cut: the module, the document around it, the reference rest of the line."""

    package: str
    module: Path
    prefix: str
    suffix: str  # the document after the cut line (the rest of the line is what is asked)
    reference: str
    cross: frozenset[str]  # names defined only in sibling modules


def copy_package(name: str, into: Path) -> Path:
    """Copy a stdlib package's .py files into `into/name`; return that folder."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not a package")
    src = Path(next(iter(spec.submodule_search_locations)))
    dst = into / name
    for path in sorted(src.rglob("*.py")):
        if "test" in path.relative_to(src).parts[0]:
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dst


def _code_names(text: str) -> list[tuple[int, int, str]]:
    """(0-based line, column, name) of each name token of Python code (not strings, comments)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME:
                out.append((tok.start[0] - 1, tok.start[1], tok.string))
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def package_cases(pkg: Path, count: int, seed: int) -> list[Case]:
    """A deterministic sample of `count` cross-file cuts over the package's modules."""
    modules = sorted(pkg.rglob("*.py"))
    defined = {m: {d.name for d in definitions(m.read_text("utf-8"), "python")} for m in modules}
    out: list[Case] = []
    for module in modules:
        others = set().union(*(names for m, names in defined.items() if m != module))
        cross = frozenset(n for n in others - defined[module] if len(n) > 2)
        text = module.read_text("utf-8")
        lines = text.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        seen_lines: set[int] = set()
        for row, col, name in _code_names(text):
            line = lines[row]
            stripped = line.lstrip()
            if row in seen_lines or name not in cross or stripped.startswith(("import ", "from ")):
                continue
            if col <= len(line) - len(stripped):
                continue  # a name at the line start leaves nothing of the line to see
            seen_lines.add(row)
            rest = line[col:].rstrip("\r\n")
            names = frozenset(n for n in _NAME.findall(rest) if n in cross)
            cut = starts[row] + col
            out.append(Case(pkg.name, module, text[:cut], text[starts[row + 1] :], rest, names))
    rng = random.Random(seed)
    return sorted(
        rng.sample(out, min(count, len(out))), key=lambda c: (str(c.module), len(c.prefix))
    )


def case_context(engine: Engine, case: Case, ws: Workspace, budget: int) -> RepoContext | None:
    """The context the server would give at this cut (imports only: no other open documents)."""
    line_start = case.prefix.rfind("\n") + 1
    stable = case.prefix[:line_start] + case.suffix
    first, rest = import_chunks(stable, case.module, "python", ws)
    text = case.prefix + case.suffix
    at = len(case.prefix)
    chunks = select_chunks(
        first + rest,
        cursor_text=text[max(0, at - 16_000) : at + 16_000],
        budget=budget,
        count=lambda s: len(engine.vocab.encode(s.encode("utf-8"))),
        language="python",
    )
    return RepoContext(ws.relative(case.module), chunks) if chunks else None


def run_case(
    engine: Engine,
    case: Case,
    context: RepoContext | None,
    thresholds: Thresholds,
    max_tokens: int,
    *,
    with_context: bool,
) -> dict[str, Any]:
    """Complete one cut (warm: one keystroke after the cut minus a character); score it."""

    def req(prefix: str) -> CompletionRequest:
        return CompletionRequest(
            prefix=prefix,
            max_tokens=max_tokens,
            healing="byte",
            language="python",
            stop=("\n",),
            context=context,
        )

    engine.complete(req(case.prefix[:-1]))
    c = engine.complete(req(case.prefix))
    first = c.text.split("\n", 1)[0]
    spans = completion_spans(engine, c, case.prefix, "\n", "python", thresholds, False)
    on_names = [m.span() for m in _NAME.finditer(first) if m.group() in case.cross]
    name_chars = sum(b - a for a, b in on_names)
    # Spans may overlap (a token span inside a line span): count each character once.
    covered = {k for sp in spans for k in range(sp.start, sp.end)}
    underlined = sum(k in covered for a, b in on_names for k in range(a, b))
    got = set(_NAME.findall(first))
    return {
        "package": case.package,
        "module": case.module.name,
        "context": with_context,
        "context_tokens": sum(ch.tokens for ch in context.chunks) if context else 0,
        "exact": first.strip() == case.reference.strip(),
        "names": len(case.cross),
        "names_matched": len(case.cross & got),
        "first_text_ms": c.timings.first_token_ms,
        "evaluated": c.prompt_tokens_evaluated,
        "name_chars": name_chars,
        "underlined_chars": underlined,
        "reference": case.reference,
        "text": first,
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per condition: exact-line rate, identifier match, median warm first text, underlines."""
    out: dict[str, Any] = {}
    for label, on in (("without", False), ("with", True)):
        part = [r for r in rows if r["context"] == on]
        if not part:
            continue
        out[label] = {
            "cases": len(part),
            "exact_line": sum(r["exact"] for r in part) / len(part),
            "identifier_match": sum(r["names_matched"] for r in part)
            / max(1, sum(r["names"] for r in part)),
            "first_text_ms_median": statistics.median(r["first_text_ms"] for r in part),
            "underlined_share": sum(r["underlined_chars"] for r in part)
            / max(1, sum(r["name_chars"] for r in part)),
            "context_tokens_mean": statistics.mean(r["context_tokens"] for r in part),
        }
    if "with" in out and "without" in out:
        base, ctx = out["without"], out["with"]
        out["identifier_ratio"] = ctx["identifier_match"] / max(base["identifier_match"], 1e-9)
        out["first_text_ratio"] = ctx["first_text_ms_median"] / base["first_text_ms_median"]
    return out


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench context`."""
    p = sub.add_parser("context", help="completions with vs without repository context")
    add_model_args(p)
    p.add_argument("--dev", default="json", help="package(s) used to develop, comma-separated")
    p.add_argument("--eval", default="email,http", help="held-out package(s), comma-separated")
    p.add_argument("--cases", type=int, default=40, help="cuts per package")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample of cuts")
    p.add_argument("--budget", type=int, default=1024, help="context tokens (context.maxTokens)")
    p.add_argument("--max-tokens", type=int, default=24, help="tokens per completion")
    p.add_argument("--json", action="store_true", help="print one JSON object (with all rows)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run both sets and print the summary per set (or JSON)."""
    engine = load_or_fail(args)
    if isinstance(engine, int):
        return engine
    thresholds = load_thresholds(engine.info.sha256)
    engine.complete(CompletionRequest(prefix="def f():\n    ", max_tokens=4))  # warm up
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="caveat-bench-context-") as tmp:
        for split, names in (("dev", args.dev), ("eval", args.eval)):
            rows: list[dict[str, Any]] = []
            for name in filter(None, names.split(",")):
                pkg = copy_package(name, Path(tmp))
                ws = Workspace.of([Path(tmp)])
                cases = package_cases(pkg, args.cases, args.seed)
                for i, case in enumerate(cases):
                    context = case_context(engine, case, ws, args.budget)
                    # Alternate which condition runs first so that machine noise favours none.
                    for on in (True, False) if i % 2 else (False, True):
                        ctx = context if on else None
                        row = run_case(
                            engine, case, ctx, thresholds, args.max_tokens, with_context=on
                        )
                        rows.append(row)
                    print(f"{split} {name} {i + 1}/{len(cases)}", file=sys.stderr, flush=True)
            report[split] = {"packages": names, "summary": summarize(rows), "rows": rows}
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    for split, body in report.items():
        print(f"{split} ({body['packages']}): {json.dumps(body['summary'], indent=1)}")
    return 0
