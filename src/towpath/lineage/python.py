"""What a Python or PySpark job's module says about the tables and columns it reads, without importing it.

A job reads tables through its context: `ctx.read(name, columns=[...])` and
`ctx.table(name)`, where `name` is a literal or `ctx.params["NAME"]`. Columns
are named in string literals (`"title_id"`, `F.col("view_hours")`,
`"title_id IS NOT NULL AND view_hours > 0"`): every identifier in a literal that
is a column of a table the job reads is a read of that column at that line.
That is what a migration needs to point at; which output column comes from
which input column is declared (`lineage:`) or, for a column of the same name,
inferred.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["NamedColumn", "TableRead", "named_columns", "table_reads"]

READ_METHODS = frozenset({"read", "table"})
"""`JobContext` methods that read a catalog table by name (first argument)."""

NAMING_METHODS = {"alias": 0, "withColumn": 0, "append_column": 0, "withColumnRenamed": 1, "add_column": 1}
"""DataFrame/Arrow methods whose argument at this position names an output column, not a read one."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TableRead:
    table: str
    line: int
    columns: tuple[str, ...] | None
    """`columns=[...]` of the call, when it lists them."""


@dataclass(frozen=True)
class NamedColumn:
    column: str
    line: int


def table_reads(tree: ast.Module, params: Mapping[str, str]) -> list[TableRead]:
    """Every `<ctx>.read(...)` / `<ctx>.table(...)` call whose table name is known statically."""
    reads = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in READ_METHODS and isinstance(node.func.value, ast.Name) and node.args):
            continue
        name = _static_string(node.args[0], params)
        if name is None:
            continue
        columns = None
        for keyword in node.keywords:
            if keyword.arg == "columns" and isinstance(keyword.value, (ast.List, ast.Tuple)):
                values = [_static_string(v, params) for v in keyword.value.elts]
                columns = tuple(v.lower() for v in values if v is not None)
        reads.append(TableRead(name, node.lineno, columns))
    return reads


def named_columns(tree: ast.Module, columns: set[str], source: str) -> list[NamedColumn]:
    """Each string literal's identifiers that are in `columns` (lower case), at the line they are on
    (`source` is the module's text: a literal may span lines, implicitly concatenated or triple-quoted)."""
    lines = source.splitlines()
    found = []
    for node in _strings(tree):
        assert isinstance(node.value, str)
        for word in {w.lower() for w in _IDENTIFIER.findall(node.value)} & columns:
            found += [NamedColumn(word, line) for line in _lines_of(word, node, lines)]
    return sorted(set(found), key=lambda n: (n.line, n.column))


def _lines_of(word: str, node: ast.Constant, lines: list[str]) -> list[int]:
    """The lines of `node`'s source that name `word` (its first line if none does)."""
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", re.IGNORECASE)
    span = range(node.lineno, min(node.end_lineno or node.lineno, len(lines)) + 1)
    return [n for n in span if pattern.search(lines[n - 1])] or [node.lineno]


def _strings(tree: ast.Module) -> Iterator[ast.Constant]:
    """String literals that may name columns read: not docstrings, not parameter names (`ctx.params["DATE"]`),
    not the names of output columns (`.alias("x")`, `.withColumn("x", ...)`)."""
    skip = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute) and n.value.attr == "params":
            skip.add(id(n.slice))
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
              and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "params" and n.args):
            skip.add(id(n.args[0]))
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in NAMING_METHODS
              and n.args):
            skip.add(id(n.args[NAMING_METHODS[n.func.attr]] if len(n.args) > NAMING_METHODS[n.func.attr] else None))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node


def _static_string(node: ast.expr, params: Mapping[str, str]) -> str | None:
    """A literal, or `<x>.params["NAME"]` / `<x>.params.get("NAME")` resolved from `params`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "params"
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return params.get(node.slice.value)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "params" and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return params.get(node.args[0].value)
    return None
