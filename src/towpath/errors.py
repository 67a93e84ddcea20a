"""The one root of every error towpath raises on purpose, and its families.

Callers catch a family (`SpecError`, `CatalogError`, ...) or the root. The CLI
prints a `TowpathError` as one line and exits 1; anything else is a bug and
shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pathlib is imported where a path is built: `towpath --help` imports this module
    from pathlib import Path


class TowpathError(Exception):
    """Root of every error towpath raises on purpose."""


class SpecError(TowpathError):
    """A YAML spec or project file is malformed; carries file:line:column and the field."""

    def __init__(
        self,
        msg: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        col: int | None = None,
        field: str | None = None,
    ) -> None:
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f":{line}"
                if col is not None:
                    where += f":{col}"
            where += ": "
        prefix = f"{field}: " if field else ""
        super().__init__(f"{where}{prefix}{msg}")
        self.msg = msg
        self.file, self.line, self.col, self.field = file, line, col, field


class SpecErrors(SpecError):
    """Several spec problems reported together (e.g. `project validate`)."""

    def __init__(self, errors: list[SpecError]) -> None:
        TowpathError.__init__(self, "\n".join(str(e) for e in errors))
        self.errors = errors
        first = errors[0]
        self.msg, self.file, self.line, self.col, self.field = (
            first.msg, first.file, first.line, first.col, first.field,
        )


class ParameterError(SpecError):
    """A `${VAR}` is undefined; names the variable and where it is used."""


class UnknownNameError(TowpathError):
    """A name looked up in a registry (engine, job type, audit, ...) does not exist."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        import difflib  # only for the message: the thin `towpath` client imports this module

        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else f" Known: {', '.join(known)}."
        super().__init__(f"Unknown {kind} '{name}'.{hint}")
        self.kind, self.name, self.known = kind, name, known


class NotInstalledError(TowpathError):
    """An implementation needs an optional dependency that is not installed; names the pip extra."""

    def __init__(self, kind: str, name: str, *, extra: str, missing: str | None = None) -> None:
        needs = f" needs the Python package '{missing}'" if missing else " needs an optional dependency"
        super().__init__(f"The {kind} '{name}'{needs}: pip install 'towpath[{extra}]'")
        self.kind, self.name, self.extra, self.missing = kind, name, extra, missing


class OutputPathError(TowpathError):
    """A file or folder towpath was asked to write cannot be written; says which and why."""

    def __init__(self, path: Path | str, exc: OSError) -> None:
        from pathlib import Path

        path = Path(path)
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            why = f"{blocker} is a file, not a folder"
        elif blocker is not None and blocker != path.parent and not path.parent.exists():
            why = f"the folder {path.parent} does not exist"
        else:
            why = exc.strerror or str(exc)
        super().__init__(f"cannot write {path}: {why}")
        self.path, self.reason = path, why


class CatalogError(TowpathError):
    """Something about Iceberg tables, namespaces, branches or metadata went wrong."""


class TableNotFoundError(CatalogError):
    """A table does not exist; suggests close names."""

    def __init__(self, identifier: str, known: Iterable[str] = ()) -> None:
        import difflib

        close = difflib.get_close_matches(identifier, list(known), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"Table '{identifier}' does not exist.{hint}")
        self.identifier, self.suggestions = identifier, close


class SchemaMismatchError(CatalogError):
    """A DDL or a write does not match the existing table schema."""


class ConflictError(CatalogError):
    """A concurrent writer moved `main` (or a commit failed) before we could publish."""


class EngineError(TowpathError):
    """The engine could not run a statement."""


class SqlError(EngineError):
    """A SQL script is invalid or failed; names the script file and line."""

    def __init__(self, msg: str, *, file: Path | str | None = None, line: int | None = None) -> None:
        where = f"{file}:{line}: " if file is not None and line is not None else (f"{file}: " if file else "")
        super().__init__(f"{where}{msg}")
        self.msg, self.file, self.line = msg, file, line


class AuditError(TowpathError):
    """One or more blocking audits failed; nothing was published."""


class WorkflowError(TowpathError):
    """A workflow run failed; names the step."""


class PipelineError(TowpathError):
    """A `towpath.pipeline` processor failed; names the processor and batch."""


class ConnectorError(TowpathError):
    """A source or sink could not reach or use its resource; names it."""


class TransientError(TowpathError):
    """A failure worth retrying (HTTP 5xx, connection reset, commit conflict)."""


E = TypeVar("E", bound=TowpathError)


def located(error: E, *, file: Path | str | None, line: int | None) -> E:
    """`error` with `file:line: ` in front of its message and kept as `error.file`/`error.line`.

    The type is unchanged, so a `TableNotFoundError` an engine meets while running
    line 12 of a script is still a `TableNotFoundError` to its caller, and the
    message still says where. An error that already names a file is returned as is.

    >>> str(located(CatalogError("boom"), file="job.sql", line=3))
    'job.sql:3: boom'
    """
    if file is None or getattr(error, "file", None) is not None:
        return error
    where = f"{file}:{line}: " if line is not None else f"{file}: "
    error.args = (f"{where}{error}", *error.args[1:])
    error.file, error.line = file, line  # type: ignore[attr-defined]
    return error


def first_line(err: BaseException) -> str:
    """The first non-blank line of an error's message, plus any "did you mean"/"candidate" hint lines.

    Engines and drivers put a multi-line report into one exception; a CLI line
    wants the headline and the suggestion, not the context dump.

    >>> first_line(ValueError("Binder Error: no column x\\n\\nLINE 1: select x\\nDid you mean 'y'?"))
    "Binder Error: no column x Did you mean 'y'?"
    >>> first_line(KeyError())
    'KeyError'
    """
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    if not lines or lines == ["''"]:
        return type(err).__name__
    hint = [ln.strip() for ln in lines[1:] if ln.strip().lower().startswith(("candidate", "did you mean"))]
    return " ".join([lines[0], *hint])
