"""What a JavaScript/TypeScript file imports and what a module defines, read with tree-sitter.

The same contract as `caveat.grammars.imports` (Python): `Import.module` is the specifier as
written (`./cart/helpers`), `names` the names imported by name (the module's own names, not
local aliases), `bound` the name a default or namespace import (or `const x = require(...)`)
binds. Definitions are the top-level functions, classes, variables and, in TypeScript,
interfaces, types and enums, exported or not, each with a short summary.
"""

from __future__ import annotations

import tree_sitter as ts

from caveat.grammars.imports import MAX_LINES, WHOLE_LINES, Definition, Import, node_text
from caveat.grammars.registry import get_grammar

#: Languages this module reads (canonical ids of the registry).
JS_LANGUAGES = frozenset({"javascript", "javascriptreact", "typescript", "typescriptreact"})

_DECLARATIONS = {
    "function_declaration",
    "generator_function_declaration",
    "class_declaration",
    "abstract_class_declaration",
    "interface_declaration",
    "type_alias_declaration",
    "enum_declaration",
    "lexical_declaration",
    "variable_declaration",
}


def _parse(text: str, language: str | None) -> ts.Node | None:
    grammar = get_grammar(language)
    if grammar is None or grammar.language_id not in ("javascript", "typescript"):
        return None
    return ts.Parser(grammar.language).parse(text.encode("utf-8")).root_node


def _string(node: ts.Node | None) -> str:
    """The contents of a string literal node (without its quotes)."""
    if node is None:
        return ""
    fragment = next((c for c in node.children if c.type == "string_fragment"), None)
    return node_text(fragment)


def js_imports(text: str, language: str | None) -> list[Import]:
    """Every `import ... from` and `require(...)` binding of the file, in order."""
    root = _parse(text, language)
    if root is None:
        return []
    out: list[Import] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "import_statement":
            out.extend(_import_statement(node))
        elif node.type == "variable_declarator":
            found = _require(node)
            if found is not None:
                out.append(found)
            stack.extend(reversed(node.children))
        else:
            stack.extend(reversed(node.children))
    return out


def _import_statement(node: ts.Node) -> list[Import]:
    module = _string(node.child_by_field_name("source"))
    clause = next((c for c in node.children if c.type == "import_clause"), None)
    if not module:
        return []
    if clause is None:
        return [Import(module)]
    names: list[str] = []
    out: list[Import] = []
    for part in clause.children:
        if part.type == "identifier":  # default import
            out.append(Import(module, bound=node_text(part)))
        elif part.type == "namespace_import":
            ident = next((c for c in part.children if c.type == "identifier"), None)
            out.append(Import(module, bound=node_text(ident)))
        elif part.type == "named_imports":
            for spec in part.children:
                if spec.type == "import_specifier":
                    names.append(node_text(spec.child_by_field_name("name")))
    if names:
        out.append(Import(module, names=tuple(names)))
    return out


def _require(node: ts.Node) -> Import | None:
    """`const x = require('m')` or `const {a, b} = require('m')`."""
    value = node.child_by_field_name("value")
    if value is None or value.type != "call_expression":
        return None
    if node_text(value.child_by_field_name("function")) != "require":
        return None
    args = value.child_by_field_name("arguments")
    literal = next((c for c in args.children if c.type == "string"), None) if args else None
    module = _string(literal)
    target = node.child_by_field_name("name")
    if not module or target is None:
        return None
    if target.type == "identifier":
        return Import(module, bound=node_text(target))
    names = [
        node_text(c.child_by_field_name("key") or c) if c.type == "pair_pattern" else node_text(c)
        for c in target.named_children
        if c.type in ("shorthand_property_identifier_pattern", "pair_pattern")
    ]
    return Import(module, names=tuple(names))


def js_definitions(text: str, language: str | None) -> list[Definition]:
    """Top-level declarations (exported or not) with their summaries."""
    root = _parse(text, language)
    if root is None:
        return []
    out: list[Definition] = []
    for node in root.children:
        inner = node
        if node.type == "export_statement":
            inner = node.child_by_field_name("declaration") or next(
                (c for c in node.named_children if c.type in _DECLARATIONS), node
            )
        if inner.type not in _DECLARATIONS:
            continue
        first, last = node.start_point[0] + 1, node.end_point[0] + 1
        for name in _declared(inner):
            out.append(Definition(name, first, last, _summary(node, inner)))
    return out


def _declared(node: ts.Node) -> list[str]:
    """The names a declaration binds."""
    if node.type in ("lexical_declaration", "variable_declaration"):
        names = []
        for decl in node.named_children:
            target = (
                decl.child_by_field_name("name") if decl.type == "variable_declarator" else None
            )
            if target is not None and target.type == "identifier":
                names.append(node_text(target))
        return names
    name = node.child_by_field_name("name")
    return [node_text(name)] if name is not None else []


def _summary(node: ts.Node, inner: ts.Node) -> str:
    """The declaration whole when short, else its header and the heads of its members."""
    lines = (" " * node.start_point[1] + node_text(node)).splitlines()
    if len(lines) <= WHOLE_LINES:
        return "\n".join(lines) + "\n"
    body = inner.child_by_field_name("body")
    if body is None or node.text is None:
        return "\n".join([*lines[: MAX_LINES // 3], "  // ..."]) + "\n"
    head = node.text[: body.start_byte - node.start_byte].decode("utf-8", "replace").rstrip()
    out = [*head.splitlines(), "{" if not head.endswith("{") else ""]
    out = [ln for ln in out if ln]
    if inner.type in ("class_declaration", "abstract_class_declaration", "interface_declaration"):
        for member in body.named_children:
            member_lines = node_text(member).splitlines()
            if not member_lines:
                continue
            first = member_lines[0].rstrip()
            pad = " " * member.start_point[1]
            out.append(pad + (first if len(member_lines) == 1 else first.rstrip("{ ") + " { ... }"))
            if len(out) >= MAX_LINES:
                out.append(pad + "// ...")
                break
    else:
        out.append("  // ...")
    out.append("}")
    return "\n".join(out) + "\n"
