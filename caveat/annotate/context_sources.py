"""Where repository context comes from on disk: the definitions of names a file imports.

Files are read only inside the workspace folders the client declared: a path is resolved
(symlinks followed) and read only if the real file lies inside the real folder, so a symlink
pointing out of the workspace is never opened. Huge and binary files are skipped; every skip is
logged once. A file's definitions are cached by (path, size, mtime).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from caveat.engine.context import ContextChunk, document_chunks
from caveat.grammars.imports import Definition, Import, definitions, imports
from caveat.grammars.imports_js import JS_LANGUAGES, js_definitions, js_imports
from caveat.grammars.registry import language_for_path, normalize_language

#: Extensions a relative JavaScript/TypeScript import may leave out, in the order tried.
_JS_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts")


def _family(language: str | None) -> str:
    """ "python", "js" (JavaScript/TypeScript) or "" for languages without import resolution."""
    canonical = normalize_language(language)
    if canonical == "python":
        return "python"
    return "js" if canonical in JS_LANGUAGES else ""


def _all_definitions(text: str, language: str | None) -> list[Definition]:
    family = _family(language)
    if family == "python":
        return definitions(text, language)
    return js_definitions(text, language) if family == "js" else []


logger = logging.getLogger(__name__)

#: Files larger than this are not context (generated code, data, bundles).
MAX_FILE_BYTES = 512 * 1024
#: Bytes looked at for a NUL that marks a file as binary.
_SNIFF = 8192


@lru_cache(maxsize=512)
def _log_once(message: str) -> None:
    """Log a skip once per distinct message: completions run on every keystroke."""
    logger.warning("%s", message)


@dataclass(frozen=True)
class Workspace:
    """The workspace folders, as real paths; the only places context is read from."""

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Iterable[str | os.PathLike[str]]) -> Workspace:
        """The workspace of these folders (missing ones dropped, symlinks resolved)."""
        roots = [Path(os.path.realpath(f)) for f in folders]
        return cls(tuple(r for r in roots if r.is_dir()))

    def inside(self, path: Path) -> Path | None:
        """The real path of `path` if it lies inside a workspace folder, else None."""
        real = Path(os.path.realpath(path))
        return real if any(real.is_relative_to(root) for root in self.roots) else None

    def relative(self, real: Path) -> str:
        """A real path inside the workspace as the prompt names it (relative, with `/`)."""
        for root in self.roots:
            if real.is_relative_to(root):
                return real.relative_to(root).as_posix()
        return real.name

    def read(self, path: Path) -> tuple[Path, str] | None:
        """(real path, text) of a workspace file; None (logged) if outside, huge or binary."""
        real = self.inside(path)
        if real is None:
            _log_once(f"context: {path} is outside the workspace folders; not read")
            return None
        text = read_source(real)
        return None if text is None else (real, text)


def read_source(real: Path) -> str | None:
    """A source file's text; None (logged once) if it is huge, binary or unreadable."""
    try:
        st = real.stat()
        if not real.is_file():
            return None
        if st.st_size > MAX_FILE_BYTES:
            _log_once(f"context: skipped {real.name}: {st.st_size} bytes (over the limit)")
            return None
        return _read_text(real, st.st_size, st.st_mtime_ns)
    except OSError as exc:
        _log_once(f"context: cannot read {real.name}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        _log_once(f"context: skipped {real.name}: binary or not UTF-8")
    return None


@lru_cache(maxsize=64)
def _read_text(real: Path, size: int, mtime_ns: int) -> str:
    """A file's text (cached until it changes); UnicodeDecodeError for a binary file."""
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if b"\0" in data[:_SNIFF]:
        raise UnicodeDecodeError("utf-8", data[:1], 0, 1, "NUL byte: a binary file")
    return data.decode("utf-8")


@lru_cache(maxsize=64)
def _definitions(real: Path, text: str) -> tuple[Definition, ...]:
    return tuple(_all_definitions(text, language_for_path(str(real)) or "python"))


def _module_files(base: Path, module: str) -> list[Path]:
    """Files a dotted module name can live in under `base`."""
    parts = [p for p in module.split(".") if p]
    target = base.joinpath(*parts)
    if not parts:
        return [base / "__init__.py"]
    return [target.with_suffix(".py"), target / "__init__.py"]


def _js_files(current: Path | None, spec: str) -> list[Path]:
    """Files a relative specifier (`./cart/helpers`) can name; none for a package name."""
    if current is None or not spec.startswith("."):
        return []
    target = current.parent / spec
    out = [target] if target.suffix in _JS_SUFFIXES else []
    out += [target.with_name(target.name + s) for s in _JS_SUFFIXES]
    return out + [target / f"index{s}" for s in _JS_SUFFIXES]


def _first_readable(ws: Workspace, candidates: Iterable[Path]) -> tuple[Path, str] | None:
    """The first candidate that exists, read from inside the workspace."""
    for candidate in candidates:
        if os.path.lexists(candidate):
            found = ws.read(candidate)
            if found is not None:
                return found
    return None


def _bases(imp: Import, current: Path | None, ws: Workspace) -> list[Path]:
    """Folders an import is resolved against: the package for a relative one, else the roots."""
    if imp.level > 0:
        if current is None:
            return []
        base = current.parent
        for _ in range(imp.level - 1):
            base = base.parent
        return [base]
    here = [current.parent] if current is not None else []
    return [*here, *ws.roots]


def _find(ws: Workspace, bases: Sequence[Path], module: str) -> tuple[Path, str] | None:
    """The first existing file of `module` under `bases`, read from inside the workspace."""
    return _first_readable(ws, (c for base in bases for c in _module_files(base, module)))


def import_chunks(
    text: str, current: Path | None, language: str | None, ws: Workspace
) -> tuple[list[ContextChunk], list[ContextChunk]]:
    """Definitions the file's imports name, from workspace files: (wanted, the rest).

    Wanted: names imported by name (`from m import a`) and attributes used on an imported module
    (`m.attr`, `from pkg import m` then `m.attr`). The rest: the other public names of modules
    the file uses by attribute, in file order, so that a name not typed yet can still be found.
    Python and JavaScript/TypeScript (relative specifiers: `./x`, `../y/index`) have import
    resolution; other languages get nothing here.
    """
    family = _family(language)
    if not ws.roots or not family:
        return [], []
    first: list[ContextChunk] = []
    rest: list[ContextChunk] = []
    here = ws.inside(current) if current is not None else None
    found_imports = imports(text, language) if family == "python" else js_imports(text, language)
    for imp in found_imports:
        bases = _bases(imp, here, ws)
        # (module file, wanted names or None = by attribute use on `bound`)
        targets: list[tuple[tuple[Path, str], set[str] | None, str]] = []
        if family == "js":
            js = _first_readable(ws, _js_files(here, imp.module))
            if js is not None:
                targets.append((js, set(imp.names) if imp.names else None, imp.bound))
        elif not imp.names:
            found = _find(ws, bases, imp.module)
            # `import a.b` binds `a`: its names are reached as `a.b.name`.
            access = imp.module if imp.bound == imp.module.split(".")[0] else imp.bound
            if found is not None:
                targets.append((found, None, access))
        else:
            by_name: set[str] = set()
            for name in imp.names:
                sub = _find(ws, bases, f"{imp.module}.{name}") if name != "*" else None
                if sub is not None:
                    targets.append((sub, None, name))
                else:
                    by_name.add(name)
            found = _find(ws, bases, imp.module) if by_name else None
            if found is not None:
                targets.append((found, by_name, ""))
        for (real, source), names, bound in targets:
            if real == here:
                continue
            if names is None and not bound:
                continue  # `import './styles.css'`: nothing bound, nothing to look up
            if names is None:
                used = set(re.findall(rf"\b{re.escape(bound)}\.([A-Za-z_$]\w*)", text))
            else:
                used = names if "*" not in names else set(re.findall(r"[A-Za-z_]\w*", text))
            path = ws.relative(real)
            for d in _definitions(real, source):
                chunk = ContextChunk(path, d.start_line, d.end_line, d.summary, "import")
                if d.name in used:
                    first.append(chunk)
                elif names is None and not d.name.startswith("_"):
                    rest.append(chunk)
    # One declaration may bind several names (`const A = 1, B = 2`): one chunk for it.
    taken: set[tuple[str, int]] = set()
    unique = []
    for chunk in first:
        if (chunk.path, chunk.start_line) not in taken:
            taken.add((chunk.path, chunk.start_line))
            unique.append(chunk)
    return unique, [c for c in rest if (c.path, c.start_line) not in taken]


def file_chunks(
    path: str, text: str, language: str | None, wanted: set[str]
) -> tuple[list[ContextChunk], list[ContextChunk]]:
    """Chunks of a file named as context: (sharing names with `wanted`, the rest).

    A Python, JavaScript or TypeScript file gives its definitions' summaries (the definitions of
    wanted names first); another file the runs of lines that share the most names with `wanted`.
    """
    defs = _all_definitions(text, language)
    if not defs:
        return document_chunks(path, text, wanted, keep=4), []
    first: list[ContextChunk] = []
    rest: list[ContextChunk] = []
    for d in defs:
        chunk = ContextChunk(path, d.start_line, d.end_line, d.summary, "import")
        (first if d.name in wanted else rest).append(chunk)
    return first, rest
