"""What a Python file imports and what a module defines, read with tree-sitter.

Pure: text in, names out; which files the imports name, and reading them, is the caller's
business (`caveat.annotate.context_sources`). A definition comes with a short summary: a small
function whole, a long one as its signature and the first line of its docstring, a class as its
header with its members' signatures; that is what a completion elsewhere needs to know.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from caveat.grammars.registry import get_grammar

#: A function this short is shown whole; a longer one by its signature.
WHOLE_LINES = 12
#: Most lines of one definition's summary.
MAX_LINES = 30


@dataclass(frozen=True)
class Import:
    """One imported module: `from .mod import a, b` is Import("mod", 1, ("a", "b"), "")."""

    module: str
    level: int = 0
    names: tuple[str, ...] = ()  # ("*",) for a wildcard; () for `import module`
    bound: str = ""  # the name `import module [as bound]` binds ("" for from-imports)


@dataclass(frozen=True)
class Definition:
    """A top-level name a module defines, where (1-based lines), and its summary text."""

    name: str
    start_line: int
    end_line: int
    summary: str


def _parse(text: str, language: str | None) -> ts.Node | None:
    """The syntax tree's root, or None for a language other than Python or no grammar."""
    grammar = get_grammar(language)
    if grammar is None or grammar.language_id != "python":
        return None
    return ts.Parser(grammar.language).parse(text.encode("utf-8")).root_node


def node_text(node: ts.Node | None) -> str:
    """A node's source text ("" for none)."""
    return "" if node is None or node.text is None else node.text.decode("utf-8", "replace")


def imports(text: str, language: str | None) -> list[Import]:
    """Every import statement of a Python file, anywhere in it, in order."""
    root = _parse(text, language)
    if root is None:
        return []
    out: list[Import] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                dotted = name.child_by_field_name("name") if name.type == "aliased_import" else name
                alias = name.child_by_field_name("alias") if name.type == "aliased_import" else None
                module = node_text(dotted)
                out.append(Import(module, bound=node_text(alias) or module.split(".")[0]))
        elif node.type == "import_from_statement":
            out.append(_from_import(node))
        else:
            stack.extend(reversed(node.children))
    return out


def _from_import(node: ts.Node) -> Import:
    module_node = node.child_by_field_name("module_name")
    level, module = 0, node_text(module_node)
    if module_node is not None and module_node.type == "relative_import":
        prefix = next((c for c in module_node.children if c.type == "import_prefix"), None)
        level = node_text(prefix).count(".")
        module = node_text(next((c for c in module_node.children if c.type == "dotted_name"), None))
    names: list[str] = []
    for name in node.children_by_field_name("name"):
        dotted = name.child_by_field_name("name") if name.type == "aliased_import" else name
        names.append(node_text(dotted))
    if any(c.type == "wildcard_import" for c in node.children):
        names.append("*")
    return Import(module, level, tuple(names))


def definitions(text: str, language: str | None) -> list[Definition]:
    """The functions, classes and assigned names at the top level of a Python module."""
    root = _parse(text, language)
    if root is None:
        return []
    out: list[Definition] = []
    for node in root.children:
        inner = (
            node.child_by_field_name("definition") if node.type == "decorated_definition" else node
        )
        if inner is None:
            continue
        first, last = node.start_point[0] + 1, node.end_point[0] + 1
        if inner.type in ("function_definition", "class_definition"):
            name = node_text(inner.child_by_field_name("name"))
            out.append(Definition(name, first, last, _summary(node, inner)))
        elif inner.type == "expression_statement" and inner.named_child_count:
            assign = inner.named_children[0]
            target = assign.child_by_field_name("left") if assign.type == "assignment" else None
            if target is not None and target.type == "identifier":
                lines = node_text(node).splitlines()
                summary = "\n".join(lines[:6] + (["..."] if len(lines) > 6 else []))
                out.append(Definition(node_text(target), first, last, summary + "\n"))
    return out


def _signature(node: ts.Node, inner: ts.Node) -> list[str]:
    """Decorators and header of a definition, up to its body, plus its docstring's first line."""
    body = inner.child_by_field_name("body")
    if body is None or node.text is None:
        return node_text(node).splitlines()
    indent = " " * node.start_point[1]
    head = node.text[: body.start_byte - node.start_byte].decode("utf-8", "replace").rstrip()
    lines = [indent + ln if i == 0 else ln for i, ln in enumerate(head.splitlines())]
    pad = " " * body.start_point[1]
    doc = body.named_children[0] if body.named_child_count else None
    docstring = (
        doc is not None
        and doc.type == "expression_statement"
        and doc.named_child_count > 0
        and doc.named_children[0].type == "string"
    )
    if docstring:
        first = node_text(doc).splitlines()[0]
        quote = next((q for q in ('"""', "'''") if first.count(q) == 1), "")
        lines.append(pad + first + (" ..." + quote if quote else ""))
    return lines


def _summary(node: ts.Node, inner: ts.Node) -> str:
    """A definition short enough to stand in a prompt (see the module docstring)."""
    lines = (" " * node.start_point[1] + node_text(node)).splitlines()
    if inner.type == "function_definition":
        if len(lines) > WHOLE_LINES:
            body = inner.child_by_field_name("body")
            pad = " " * (body.start_point[1] if body is not None else 4)
            lines = [*_signature(node, inner), pad + "..."]
        return "\n".join(lines[:MAX_LINES]) + "\n"
    if len(lines) <= WHOLE_LINES:
        return "\n".join(lines) + "\n"
    out = _signature(node, inner)
    body = inner.child_by_field_name("body")
    members = body.named_children if body is not None else []
    for index, member in enumerate(members):
        definition = (
            member.child_by_field_name("definition")
            if member.type == "decorated_definition"
            else member
        )
        if definition is not None and definition.type == "function_definition":
            pad = " " * (member.start_point[1] + 4)
            out += [*_signature(member, definition), pad + "..."]
        elif member.type == "expression_statement" and index > 0:  # not the docstring
            out += [" " * member.start_point[1] + ln for ln in node_text(member).splitlines()[:2]]
        if len(out) >= MAX_LINES:
            out = [*out[:MAX_LINES], " " * member.start_point[1] + "..."]
            break
    return "\n".join(out) + "\n"
