"""Split a SQL script into statements that remember their line, parse and classify them.

Splitting uses the dialect's own sqlglot tokenizer, so a `;` inside a string,
a quoted identifier or a comment never ends a statement, and each statement
keeps the line its first token is on. Errors point at lines of the *file*,
not of the statement: a syntax error on the third line of a job script says
`job.sql:3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from towpath.errors import SqlError, UnknownNameError

__all__ = [
    "SUPPORTED", "Statement", "StatementType", "classify", "describe", "get_dialect", "parse_script", "parse_statement",
    "split_script", "unsupported",
]

StatementType = Literal[
    "create_table", "create_view", "drop_table", "drop_view", "insert", "select", "use", "set", "unsupported"
]


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text, where it starts, and its parsed form."""

    text: str
    line: int
    """1-based line of the statement's first token in the script."""
    expression: exp.Expression
    type: StatementType


def get_dialect(name: str) -> Dialect:
    """The sqlglot dialect called `name`; an unknown name suggests the closest one."""
    try:
        return Dialect.get_or_raise(name)
    except ValueError:
        raise UnknownNameError("SQL dialect", name, [d for d in Dialect.classes if d]) from None


def split_script(script: str, *, dialect: str = "spark", file: Path | str | None = None) -> list[tuple[str, int]]:
    """`(statement text, start line)` for every non-empty statement, in order.

    >>> split_script("SELECT ';'; -- done\\n\\nSELECT 2")
    [("SELECT ';'", 1), ('SELECT 2', 3)]
    """
    get_dialect(dialect)
    try:
        return list(_split(script, dialect))
    except _Unreadable as err:
        raise SqlError(
            f"cannot read the SQL after line {err.line}: an unterminated string, quoted name or comment",
            file=file, line=err.line,
        ) from None


class _Unreadable(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


@lru_cache(maxsize=256)
def _split(script: str, dialect: str) -> tuple[tuple[str, int], ...]:
    """`split_script` kept by the script's text: tokenizing is Python, ~0.7 ms for a short script, and a
    run splits the same scripts (its SQL jobs, each audit query) again for every run."""
    tokenizer = get_dialect(dialect).tokenizer_class(dialect=dialect)
    try:
        tokens = tokenizer.tokenize(script)
    except TokenError:
        seen = tokenizer.tokens
        raise _Unreadable(seen[-1].line if seen else 1) from None
    out: list[tuple[str, int]] = []
    first = None
    last = None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if first is not None and last is not None:
                out.append((script[first.start : last.end + 1], first.line))
            first = last = None
            continue
        if first is None:
            first = token
        last = token
    if first is not None and last is not None:
        out.append((script[first.start : last.end + 1], first.line))
    return tuple(out)


def parse_statement(
    text: str, line: int, *, dialect: str = "spark", file: Path | str | None = None, shared: bool = False
) -> exp.Expression:
    """Parse one statement; a syntax error names the file line it is on.

    With `shared`, the tree is the one kept for `text`, not a copy: for callers
    that only read it (a preflight, a job's list of writes), to be left unchanged.
    """
    get_dialect(dialect)
    try:
        tree = _parse_one(text, dialect)
        return tree if shared else tree.copy()
    except ParseError as err:
        info = err.errors[0] if err.errors else {}
        where = line + int(info.get("line") or 1) - 1
        what = info.get("description") or str(err).splitlines()[0]
        near = (info.get("highlight") or "").strip()
        raise SqlError(f"syntax error: {what}" + (f" (near '{near}')" if near else ""), file=file, line=where) from None
    except TokenError as err:
        raise SqlError(f"syntax error: {err}", file=file, line=line) from None
    except _NotOneStatement as err:
        raise SqlError(f"expected one statement, found {err.found}", file=file, line=line) from None


class _NotOneStatement(Exception):
    def __init__(self, found: int) -> None:
        self.found = found


@lru_cache(maxsize=512)
def _parse_one(text: str, dialect: str) -> exp.Expression:
    """The statement `text` parses to, kept by its text: a preflight and then the run parse every
    statement of a workflow, and a scheduler or worker runs the same files again and again. Callers
    get a copy (binding rewrites the tree), a third of the parse's cost."""
    statements = [p for p in sqlglot.parse(text, read=dialect) if isinstance(p, exp.Expression)]
    if len(statements) != 1:
        raise _NotOneStatement(len(statements))
    return statements[0]


def classify(expression: exp.Expression) -> StatementType:
    """Which of the statement shapes an engine runs this is."""
    if isinstance(expression, exp.Query):
        return "select"
    if isinstance(expression, exp.Insert):
        return "insert"
    if isinstance(expression, exp.Create):
        kind = (expression.args.get("kind") or "").upper()
        if kind == "TABLE" and not isinstance(expression.expression, exp.Query):
            return "create_table"
        if kind == "VIEW":
            return "create_view"
        return "unsupported"
    if isinstance(expression, exp.Drop):
        kind = (expression.args.get("kind") or "").upper()
        return "drop_table" if kind == "TABLE" else ("drop_view" if kind == "VIEW" else "unsupported")
    if isinstance(expression, exp.Use):
        return "use"
    if isinstance(expression, exp.Set):
        return "set"
    return "unsupported"


SUPPORTED = "SELECT, INSERT INTO/OVERWRITE, CREATE TABLE, CREATE [TEMPORARY] VIEW, DROP TABLE/VIEW, USE, SET"
"""The statements an engine runs (what `classify` does not call `unsupported`)."""


def unsupported(statement: Statement, engine: str) -> str:
    """The message for a statement no engine runs (the engine refuses it; the preflight reports it first)."""
    return f"{describe(statement.expression)} statements are not supported by the {engine} engine (supported: {SUPPORTED})"


def describe(expression: exp.Expression) -> str:
    """A short name for a statement in error messages (`UPDATE`, `MERGE`, `CREATE TABLE AS`)."""
    if isinstance(expression, exp.Command):
        return str(expression.this).upper()
    if isinstance(expression, exp.Create):
        kind = (expression.args.get("kind") or "").upper()
        return f"CREATE {kind} AS SELECT" if isinstance(expression.expression, exp.Query) else f"CREATE {kind}"
    if isinstance(expression, exp.Drop):
        return f"DROP {(expression.args.get('kind') or '').upper()}"
    return expression.key.upper()


def parse_script(
    script: str, *, dialect: str = "spark", file: Path | str | None = None, shared: bool = False
) -> list[Statement]:
    """Split and parse a whole script before running any of it, so a typo at the end changes nothing.

    `shared` as for `parse_statement`: the statements' trees are read-only.
    """
    out = []
    for text, line in split_script(script, dialect=dialect, file=file):
        expression = parse_statement(text, line, dialect=dialect, file=file, shared=shared)
        out.append(Statement(text, line, expression, classify(expression)))
    return out
