"""The audit contract and its registry.

An audit is a named SQL query that returns the *failing* rows: an empty result
means the audit passed (the shape of sqlmesh's built-in audits). Each audit is
generic over its parameters model (`class NotNull(Audit[ColumnsParams])`), so a
missing or mistyped parameter fails at load time with the parameter's name and
`self.params` is typed; it builds its query as a sqlglot expression so table
and column names are never spliced into SQL text.

Audits are found by name in `AUDITS`: the built-ins are registered as lazy
`module:Class` strings, a package adds its own under the entry-point group
`towpath.audits`.
"""

from __future__ import annotations

import abc
import difflib
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import sqlglot
from pydantic import ConfigDict, ValidationError
from sqlglot import exp
from sqlglot.errors import SqlglotError

from towpath.config import Spec
from towpath.errors import SpecError, TowpathError, first_line
from towpath.registry import Registry

if TYPE_CHECKING:
    from towpath.catalog import ScanCounts


class AuditParams(Spec):
    """Parameters every audit accepts."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    table: str | None = None
    """Table to audit as `db.table` (or `catalog/db/table`); optional when the caller supplies one
    (a WAP template audits its own table)."""
    where: str | None = None
    """SQL condition that scopes the audit, e.g. `date = DATE '${DATE}'`."""


P = TypeVar("P", bound=AuditParams)

CountsFn = Callable[[Sequence[exp.Expr]], "ScanCounts | None"]
"""The exact counts of the audited table's rows that pass its `where` and the given conditions, read
from the catalog's metadata; None when only a query can count them (`towpath.catalog.counts`)."""


class Audit(abc.ABC, Generic[P]):
    """A named check whose `failing_rows()` query returns what is wrong (empty = pass)."""

    name: ClassVar[str]
    """The `function:` users write (also the registry name)."""
    Params: ClassVar[type[AuditParams]] = AuditParams
    """The parameters model: taken from the class's `Audit[P]` base."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Audit:
                (params,) = typing.get_args(base)
                if isinstance(params, type) and issubclass(params, AuditParams):
                    cls.Params = params

    def __init__(self, params: P, *, table: str, dialect: str = "duckdb") -> None:
        self.params = params
        self.table = table
        """The audited table as `db.table`."""
        self.dialect = dialect
        """Dialect of user-written SQL fragments (`where`, `custom_sql`)."""
        self._where: exp.Expr | None = None

    @classmethod
    def build(
        cls,
        params: Mapping[str, Any],
        *,
        default_table: str | None = None,
        dialect: str = "duckdb",
        label: str | None = None,
    ) -> Audit[P]:
        """Validate `params` against `Params` and return a ready audit.

        Raises:
            SpecError: a parameter is missing, unknown or of the wrong type, or no
                table is given and the caller has no default.
        """
        label = label or cls.name
        parsed: P = validate_params(cls, params, label=label)  # type: ignore[assignment]  # `Params` is P
        table = parsed.table or default_table
        if table is None and cls.needs_table():
            raise SpecError("missing required field 'table' (no default table here)", field=f"{label}.params.table")
        return cls(parsed, table=normalize_table(table, field=f"{label}.params.table") if table else "", dialect=dialect)

    @classmethod
    def needs_table(cls) -> bool:
        """Whether the audit reads `table` (custom SQL names its own tables)."""
        return True

    @abc.abstractmethod
    def failing_rows(self) -> exp.Query:
        """The query returning the failing rows."""

    @abc.abstractmethod
    def describe(self, failing: int, sample: Sequence[Mapping[str, Any]]) -> str:
        """What is wrong, in words, e.g. `3 rows have NULL title_id`."""

    def count_from_metadata(self, counts: CountsFn) -> int | None:
        """How many rows `failing_rows()` returns, told by row and NULL counts alone; None: run the query.

        An audit that only counts overrides it, so a passing audit over a big
        partition reads manifests instead of rows. Its answer must be the
        query's, or None whenever `counts` cannot say.
        """
        return None

    # helpers shared by the built-ins ------------------------------------------------------------

    def source(self) -> exp.Table:
        """The audited table as a sqlglot expression."""
        return table_expr(self.table)

    def scoped(self, *conditions: exp.Expr) -> exp.Select:
        """`SELECT * FROM table WHERE <where> AND <conditions>`."""
        return self.select(exp.Star(), conditions=conditions)

    def select(self, *columns: exp.Expr | str, conditions: Sequence[exp.Expr] = ()) -> exp.Select:
        """`SELECT columns FROM table` filtered by the `where` param and `conditions`."""
        query = exp.select(*columns).from_(self.source())
        for condition in (*self.where(), *conditions):
            query = query.where(condition)
        return query

    def where(self) -> list[exp.Expr]:
        """The `where` param parsed in the workflow's dialect (empty when not given), a fresh copy each call.

        Parsed once per audit: a kept audit (`towpath.audits.runner`) scopes its
        query and its metadata counts with it run after run.
        """
        if not self.params.where:
            return []
        if self._where is None:
            self._where = parse_condition(self.params.where, dialect=self.dialect, field=f"{self.name}.params.where")
        return [self._where.copy()]

    def scope_text(self) -> str:
        """` (where ...)` for messages, so a scoped failure says which slice it saw."""
        return f" (where {self.params.where})" if self.params.where else ""


AUDITS: Registry[type[Audit[Any]]] = Registry("audit", group="towpath.audits")
"""Every audit by name (built-ins here, plugins under the entry-point group `towpath.audits`)."""
for _name, _cls in {
    "accepted_values": "AcceptedValues",
    "columns_should_be_unique": "ColumnsShouldBeUnique",
    "columns_should_not_have_nulls": "ColumnsShouldNotHaveNulls",
    "custom_sql": "CustomSql",
    "freshness": "Freshness",
    "not_null_proportion": "NotNullProportion",
    "row_count_between": "RowCountBetween",
    "row_count_change_within": "RowCountChangeWithin",
    "table_should_not_be_empty": "TableShouldNotBeEmpty",
    "values_between": "ValuesBetween",
}.items():
    AUDITS.register(_name, f"towpath.audits.builtin:{_cls}")


def get_audit(name: str) -> type[Audit[Any]]:
    """The audit class registered as `name`.

    Raises:
        UnknownNameError: with the closest known name ("Did you mean ...").
    """
    return AUDITS.get(name)


def validate_params(audit: type[Audit[Any]], params: Mapping[str, Any], *, label: str) -> AuditParams:
    """`params` as the audit's `Params` model; errors name the parameter (`label.params.<name>`)."""
    if not isinstance(params, Mapping):
        raise SpecError(f"expected a mapping of parameters, got {type(params).__name__}", field=f"{label}.params")
    try:
        return audit.Params.model_validate(dict(params))
    except ValidationError as exc:
        # A misspelled name explains the "missing" error that comes with it: report the typo.
        err = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        loc = ".".join(str(p) for p in err["loc"])
        field = f"{label}.params" + (f".{loc}" if loc else "")
        if err["type"] == "missing":
            msg = f"missing required parameter '{loc}'"
        elif err["type"] == "extra_forbidden":
            allowed = sorted(audit.Params.model_fields)
            close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(allowed)}"
            msg = f"unknown parameter '{loc}' for audit {audit.name}{hint}"
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
            msg = f"{err['msg'].rstrip('.')} (got {shown})"
        raise SpecError(msg, field=field) from None


def normalize_table(name: str, *, field: str = "table") -> str:
    """`catalog/db/table`, `db/table` or `db.table` -> `db.table`, by the catalog's one naming rule."""
    from towpath.catalog import normalize_identifier  # lazy: audits on a bare connection need no pyiceberg

    try:
        return normalize_identifier(name)
    except TowpathError as exc:
        raise SpecError(f"expected a table as 'db.table', got '{name}' ({exc})", field=field) from None


def table_expr(name: str) -> exp.Table:
    """`db.table` as a sqlglot table (identifiers quoted only when they need it)."""
    db, _, table = name.rpartition(".")
    return exp.table_(table, db=db or None)


def parse_condition(text: str, *, dialect: str, field: str) -> exp.Expr:
    """A user-written SQL condition; a syntax error is a `SpecError` on `field`."""
    try:
        return sqlglot.condition(text, dialect=dialect)
    except SqlglotError as exc:
        raise SpecError(f"invalid SQL condition {text!r} ({dialect}): {first_line(exc)}", field=field) from None


def parse_query(text: str, *, dialect: str, field: str) -> exp.Query:
    """A user-written SELECT; anything else (or a syntax error) is a `SpecError` on `field`."""
    try:
        parsed = sqlglot.parse(text, read=dialect)
    except SqlglotError as exc:
        raise SpecError(f"invalid SQL ({dialect}): {first_line(exc)}", field=field) from None
    statements = [p for p in parsed if p is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SpecError("expected exactly one SELECT query returning the failing rows", field=field)
    return statements[0]
