"""Next-line completions of real code, labelled by what a user would change (shared data).

A case is one line of reference code: the model completes it greedily from the code before it,
and each syntax unit of the completion is labelled positive when its lexical tokens differ from
the reference line's (the user would have to change it). For HumanEval the completed line is
also spliced into the canonical solution and the problem's tests run: `fails` says whether the
line breaks them. `caveat calibrate` learns the edit predictor from the calibration half of
these corpora; `caveat bench signal` reports on the held-out half.

Corpora: HumanEval (Python, with tests), the running Python's stdlib (real next lines), and
JavaScript vendored in caveat/bench/data/vendor/js (semver and ini, ISC licence). Each file
goes to the calibration or the held-out half by a hash of its name, never both.
"""

from __future__ import annotations

import difflib
import hashlib
import random
import re
import sysconfig
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from caveat.bench.humaneval import load_problems, run_tests
from caveat.engine.backend import Backend
from caveat.engine.types import CompletionRequest
from caveat.records.types import TokenRecord
from caveat.scoring.features import UnitExample, unit_features
from caveat.scoring.spans import score_units
from caveat.scoring.types import Thresholds

FIRST_HELD_OUT = 82
JS_DIR = Path(__file__).parent / "data" / "vendor" / "js"
#: Lexical tokens of a line: words and single punctuation marks.
LEXEME = re.compile(r"\w+|[^\w\s]")
#: Characters of a source file before the completed line that the prompt holds (~1k tokens).
HEAD_CHARS = 3000
Split = str  # "calibration" | "held_out"


@dataclass(frozen=True)
class LineCase:
    """One completed reference line."""

    corpus: str
    language: str
    doc: str
    prefix: str
    reference: str
    generated: str
    records: tuple[TokenRecord, ...]
    fails: bool | None = None


def split_of(name: str) -> Split:
    """The half a file or problem belongs to, by a stable hash of its name."""
    digest = hashlib.sha256(name.encode()).digest()[0]
    return "held_out" if digest % 2 else "calibration"


def lexemes(line: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each lexical token of `line`."""
    return [(m.start(), m.end(), m.group()) for m in LEXEME.finditer(line)]


def wrong_chars(generated: str, reference: str) -> set[int]:
    """Indices into `generated` of lexical tokens that the reference line does not match."""
    gen = lexemes(generated)
    ref = [m[2] for m in lexemes(reference)]
    sm = difflib.SequenceMatcher(a=[g[2] for g in gen], b=ref, autojunk=False)
    good = {b.a + k for b in sm.get_matching_blocks() for k in range(b.size)}
    return {c for i, (s, e, _) in enumerate(gen) if i not in good for c in range(s, e)}


def complete_line(
    engine: Backend, corpus: str, language: str, doc: str, prefix: str, reference: str
) -> LineCase | None:
    """The model's greedy completion of the line after `prefix` (None when it writes nothing)."""
    done = engine.complete(
        CompletionRequest(prefix=prefix, max_tokens=40, stop=("\n",), language=language)
    )
    generated = done.text.split("\n", 1)[0]
    cut = len(generated.encode("utf-8"))
    records = tuple(r for r in done.records if r.offset < cut)
    if not generated.strip() or not records:
        return None
    return LineCase(corpus, language, doc, prefix, reference, generated, records)


def humaneval_cases(
    engine: Backend, split: Split, lines: int, rng: random.Random, limit: int | None = None
) -> Iterator[LineCase]:
    """Cases from HumanEval solutions (0-81 calibration, 82-163 held out), tests run."""
    problems = load_problems()
    chosen = problems[:FIRST_HELD_OUT] if split == "calibration" else problems[FIRST_HELD_OUT:]
    for problem in chosen[:limit]:
        sol = problem.canonical_solution.splitlines(keepends=True)
        picks = [i for i, line in enumerate(sol) if line.strip()]
        for i in sorted(rng.sample(picks, min(lines, len(picks)))):
            prefix = problem.prompt + "".join(sol[:i])
            case = complete_line(
                engine, "humaneval", "python", problem.task_id, prefix, sol[i].rstrip("\n")
            )
            if case is None:
                continue
            indent = sol[i][: len(sol[i]) - len(sol[i].lstrip())]
            line = case.generated if case.generated.startswith(indent) else indent + case.generated
            body = "".join(sol[:i]) + line.rstrip() + "\n" + "".join(sol[i + 1 :])
            passed = run_tests(problem, body, timeout=5.0)
            yield LineCase(**{**case.__dict__, "fails": not passed})


def _source_files(corpus: str) -> list[tuple[str, str, str]]:
    """(name, language, text) of the source corpus's files."""
    if corpus == "stdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        paths = sorted(p for p in root.glob("*.py"))
        return [(f"stdlib/{p.name}", "python", p.read_text("utf-8", "replace")) for p in paths]
    if corpus == "js":
        paths = sorted(JS_DIR.rglob("*.js"))
        return [(f"js/{p.relative_to(JS_DIR)}", "javascript", p.read_text("utf-8")) for p in paths]
    raise ValueError(f"unknown corpus {corpus!r}")


def source_cases(
    engine: Backend, corpus: str, split: Split, count: int, rng: random.Random
) -> Iterator[LineCase]:
    """`count` cases: lines of code (not comments, not blank) in files of the given half."""
    files = [f for f in _source_files(corpus) if split_of(f[0]) == split]
    rng.shuffle(files)
    made = 0
    for name, language, text in files:
        lines = text.splitlines(keepends=True)
        picks = [
            i
            for i, line in enumerate(lines)
            if i >= 5 and len(line.strip()) > 3 and not line.lstrip().startswith(("#", "//", "*"))
        ]
        for i in sorted(rng.sample(picks, min(2, len(picks)))):
            # The code before the line, up to HEAD_CHARS, cut at a line start.
            head = "".join(lines[:i])
            if len(head) > HEAD_CHARS:
                head = head[-HEAD_CHARS:]
                head = head[head.find("\n") + 1 :]
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            case = complete_line(engine, corpus, language, name, head + indent, lines[i].strip())
            if case is None:
                continue
            yield case
            made += 1
            if made >= count:
                return


def unit_examples(
    cases: Sequence[LineCase], thresholds: Thresholds, progress: Callable[[], None] | None = None
) -> list[UnitExample]:
    """Every scored unit of every case, with features and the "differs" label."""
    out: list[UnitExample] = []
    for index, case in enumerate(cases):
        text = case.prefix + case.generated + "\n"
        base = len(case.prefix)
        wrong = {base + c for c in wrong_chars(case.generated, case.reference)}
        start_byte = len(case.prefix.encode("utf-8"))
        units = score_units(
            text, case.language, case.records, start_byte, thresholds, generated=True
        )
        for span in units:
            chars = set(range(span.start, span.end))
            differs = any(c in wrong for c in chars if not text[c].isspace())
            feats = unit_features(span, case.records, text, base, base + len(case.generated))
            out.append(UnitExample(index, span, feats, differs, case.fails))
        if progress is not None:
            progress()
    return out


def calibration_cases(
    engine: Backend, per_corpus: int, seed: int, progress: Callable[[], None] | None = None
) -> list[LineCase]:
    """Calibration-half cases: `per_corpus` lines each of HumanEval, stdlib and JavaScript."""
    rng = random.Random(seed)
    cases: list[LineCase] = []
    problems = max(1, per_corpus // 3)
    for source in (
        humaneval_cases(engine, "calibration", 3, rng, limit=problems),
        source_cases(engine, "stdlib", "calibration", per_corpus, rng),
        source_cases(engine, "js", "calibration", per_corpus, rng),
    ):
        for case in source:
            cases.append(case)
            if progress is not None:
                progress()
    return cases
