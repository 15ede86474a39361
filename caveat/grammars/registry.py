"""Language registry: LSP languageId (or file extension) to a tree-sitter grammar and its query.

Each grammar is its own PyPI package (tree-sitter-python, ...). Grammars and compiled queries
are loaded lazily and cached: a language costs nothing until a document in it is aligned.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePath

import tree_sitter as ts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GrammarSpec:
    """Where a grammar lives: its module, the function returning the language, the query name."""

    module: str
    function: str
    query: str


_SPECS: dict[str, GrammarSpec] = {
    "python": GrammarSpec("tree_sitter_python", "language", "python"),
    "javascript": GrammarSpec("tree_sitter_javascript", "language", "javascript"),
    "javascriptreact": GrammarSpec("tree_sitter_javascript", "language", "javascript"),
    "typescript": GrammarSpec("tree_sitter_typescript", "language_typescript", "typescript"),
    "typescriptreact": GrammarSpec("tree_sitter_typescript", "language_tsx", "typescript"),
    "rust": GrammarSpec("tree_sitter_rust", "language", "rust"),
    "go": GrammarSpec("tree_sitter_go", "language", "go"),
    "java": GrammarSpec("tree_sitter_java", "language", "java"),
    "c": GrammarSpec("tree_sitter_c", "language", "c"),
    "cpp": GrammarSpec("tree_sitter_cpp", "language", "cpp"),
}

_ALIASES = {"tsx": "typescriptreact", "jsx": "javascriptreact", "c++": "cpp", "py": "python"}

_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".mts": "typescript",
    ".tsx": "typescriptreact",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
}


@dataclass(frozen=True)
class Grammar:
    """A loaded grammar: the tree-sitter language and its compiled span query."""

    language_id: str
    language: ts.Language
    query: ts.Query


def supported_languages() -> tuple[str, ...]:
    """The LSP languageIds that have a grammar."""
    return tuple(_SPECS)


def normalize_language(language: str | None) -> str | None:
    """Canonical languageId for `language` (aliases resolved), or None if unsupported."""
    if not language:
        return None
    key = language.lower()
    key = _ALIASES.get(key, key)
    return key if key in _SPECS else None


def language_for_path(path: str) -> str | None:
    """The languageId a file name implies by its extension, or None."""
    return _EXTENSIONS.get(PurePath(path).suffix.lower())


def query_source(name: str) -> str:
    """Text of the bundled `queries/<name>.scm`."""
    return (
        resources.files("caveat.grammars")
        .joinpath("queries")
        .joinpath(f"{name}.scm")
        .read_text("utf-8")
    )


def get_grammar(language: str | None) -> Grammar | None:
    """The grammar for an LSP languageId, or None when unknown (callers fall back to lines)."""
    key = normalize_language(language)
    return None if key is None else _load(key)


@cache
def _load(key: str) -> Grammar | None:
    spec = _SPECS[key]
    try:
        module = importlib.import_module(spec.module)
    except ImportError:
        log.warning("grammar package %s is not installed; %s uses line spans", spec.module, key)
        return None
    lang = ts.Language(getattr(module, spec.function)())
    return Grammar(key, lang, ts.Query(lang, query_source(spec.query)))
