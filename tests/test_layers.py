"""The layering of docs/ENGINE_API.md holds: every import in caveat/ points down, never across.

Walks every module's imports (module level and inside functions, TYPE_CHECKING included: a
lazy import that dodges a cycle is still a cycle) and fails on a forbidden edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "caveat"

#: Layer of each subpackage -> the caveat subpackages it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "records": {"engine", "scoring", "grammars", "annotate", "server", "commands", "bench", "cli"},
    "grammars": {"engine", "scoring", "annotate", "server", "commands", "bench", "cli"},
    "scoring": {"engine", "annotate", "server", "commands", "bench", "cli"},
    "engine": {"scoring", "grammars", "annotate", "server", "commands", "bench", "cli"},
    "annotate": {"server", "commands", "bench", "cli"},
    "server": {"commands", "bench", "cli"},
}


def _package(path: Path) -> str:
    """The layer of a module; a `__main__.py` is an entry point, the top layer like the CLI."""
    if path.name == "__main__.py":
        return "cli"
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported caveat subpackage) for every import statement in the file."""
    tree = ast.parse(path.read_text("utf-8"))
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "caveat" and len(parts) > 1:
                out.append((node.lineno, parts[1]))
    return out


def _violations() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        layer = _package(path)
        banned = FORBIDDEN.get(layer, set())
        for line, target in _imports(path):
            if target in banned:
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {layer} imports {target}")
    return found


def test_no_forbidden_imports() -> None:
    assert _violations() == []


def test_no_lazy_module_getattr() -> None:
    """Package __init__ files export nothing lazily (that hid the engine <-> scoring cycle)."""
    lazy = [
        str(p.relative_to(ROOT.parent))
        for p in ROOT.rglob("__init__.py")
        if any(
            isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
            for n in ast.parse(p.read_text("utf-8")).body
        )
    ]
    assert lazy == []


@pytest.mark.parametrize(
    ("source", "layer", "target"),
    [
        ("from caveat.engine.engine import Engine\n", "scoring", "engine"),
        ("def f():\n    from caveat.scoring import spans\n", "engine", "scoring"),
        ("import caveat.server.positions\n", "annotate", "server"),
        ("from caveat.grammars.registry import get_grammar\n", "engine", "grammars"),
    ],
)
def test_the_walker_sees_every_kind_of_import(
    tmp_path: Path, source: str, layer: str, target: str
) -> None:
    """The check itself can fail: each kind of forbidden import is found."""
    path = tmp_path / "m.py"
    path.write_text(source)
    assert (1 if "def" not in source else 2, target) in _imports(path)
    assert target in FORBIDDEN[layer]
