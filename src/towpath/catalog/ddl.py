"""Create Iceberg tables from `CREATE TABLE` DDL, as data engineers already write it.

The DDL a sample workflow ships (Spark SQL, Hive flavoured: column `COMMENT`s, a
table `COMMENT`, `PARTITIONED BY (date DATE ...)`, `STORED AS ICEBERG`) must work
exactly as written, so this module reads sqlglot's parse tree rather than
asking users to learn another schema format. Re-running the same DDL is a no-op,
which is what makes a workflow's DDL step safe to run on every execution.

Type mapping (sqlglot type -> Iceberg type):

* `TINYINT`, `SMALLINT`, `INT`/`INTEGER` -> `int`; `BIGINT`/`LONG` -> `long`
* `FLOAT` -> `float`; `DOUBLE` -> `double`; `DECIMAL(p, s)` -> `decimal(p, s)` (default `(10, 0)`)
* `STRING`/`VARCHAR`/`CHAR` -> `string`; `BOOLEAN` -> `boolean`; `BINARY` -> `binary`
* `DATE` -> `date`; `TIME` -> `time`; `UUID` -> `uuid`
* Spark `TIMESTAMP` -> `timestamptz` (Spark's TIMESTAMP is an instant, shown in the session
  time zone; sqlglot reads it as TIMESTAMPTZ); `TIMESTAMP_NTZ` (and a plain `TIMESTAMP` in
  dialects where it is naive, e.g. DuckDB) -> `timestamp`
* `ARRAY<T>` -> `list`, `MAP<K, V>` -> `map`, `STRUCT<a: T, ...>` -> `struct`

Partitioning: a column *declared* inside `PARTITIONED BY (col TYPE ...)` (Hive style)
is appended to the schema and identity-partitioned; a bare name or an Iceberg
transform (`years/months/days/hours(col)`, `bucket(N, col)`, `truncate(col, W)`)
partitions an existing column.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)
from sqlglot import exp
from sqlglot.errors import SqlglotError

from towpath.catalog._catalog import Catalog, normalize_identifier
from towpath.errors import CatalogError, ConflictError, SchemaMismatchError

DType = exp.DataType.Type

_PRIMITIVES: dict[Any, IcebergType] = {
    DType.TINYINT: IntegerType(),
    DType.SMALLINT: IntegerType(),
    DType.INT: IntegerType(),
    DType.BIGINT: LongType(),
    DType.FLOAT: FloatType(),
    DType.DOUBLE: DoubleType(),
    DType.TEXT: StringType(),
    DType.VARCHAR: StringType(),
    DType.NVARCHAR: StringType(),
    DType.CHAR: StringType(),
    DType.NCHAR: StringType(),
    DType.BOOLEAN: BooleanType(),
    DType.DATE: DateType(),
    DType.TIME: TimeType(),
    DType.TIMESTAMP: TimestampType(),
    DType.TIMESTAMPNTZ: TimestampType(),
    DType.DATETIME: TimestampType(),
    DType.TIMESTAMPTZ: TimestamptzType(),
    DType.TIMESTAMPLTZ: TimestamptzType(),
    DType.BINARY: BinaryType(),
    DType.VARBINARY: BinaryType(),
    DType.UUID: UUIDType(),
}
"""sqlglot scalar types and the Iceberg type each one becomes."""

_TIME_TRANSFORMS: dict[str, Transform[Any, Any]] = {
    "year": YearTransform(), "years": YearTransform(),
    "month": MonthTransform(), "months": MonthTransform(),
    "day": DayTransform(), "days": DayTransform(), "date": DayTransform(),
    "hour": HourTransform(), "hours": HourTransform(),
}
"""Spark/Iceberg partition transform names (both spellings) -> pyiceberg transforms."""

_SAFE_PROMOTIONS: set[tuple[type[IcebergType], type[IcebergType]]] = {
    (IntegerType, LongType),
    (FloatType, DoubleType),
}
"""Type changes Iceberg can apply without rewriting data (decimal precision widening is checked apart)."""


class DdlError(CatalogError):
    """A DDL statement cannot be parsed or uses syntax towpath does not support."""


@dataclass(frozen=True)
class DdlResult:
    """What `apply_ddl` did to the catalog."""

    identifier: str
    action: Literal["created", "unchanged", "evolved"]
    added_columns: list[str] = field(default_factory=list)
    promoted_columns: list[str] = field(default_factory=list)
    """Columns whose type was widened (int -> bigint, float -> double) by evolution."""


@dataclass(frozen=True)
class _Partition:
    column: str
    transform: Transform[Any, Any]

    @property
    def name(self) -> str:
        suffix = {
            "identity": "", "year": "_year", "month": "_month", "day": "_day", "hour": "_hour",
        }.get(str(self.transform), "")
        if isinstance(self.transform, BucketTransform):
            suffix = f"_bucket_{self.transform.num_buckets}"
        elif isinstance(self.transform, TruncateTransform):
            suffix = f"_trunc_{self.transform.width}"
        return f"{self.column}{suffix}"


@dataclass(frozen=True)
class _TableDef:
    identifier: str
    if_not_exists: bool
    schema: Schema
    partitions: list[_Partition]
    properties: dict[str, str]
    location: str | None


def apply_ddl(
    catalog: Catalog,
    statement: str | exp.Create,
    *,
    dialect: str = "spark",
    allow_evolution: bool = False,
) -> DdlResult:
    """Create the table a `CREATE TABLE` statement describes, or check that it already matches.

    Args:
        catalog: the project catalog.
        statement: one `CREATE TABLE` statement (a trailing `;` is fine) or its sqlglot tree.
        dialect: sqlglot dialect the statement is written in.
        allow_evolution: when the table exists and the DDL adds nullable columns or widens
            types (int -> bigint, float -> double), apply those changes instead of failing.

    Returns:
        `created`, `unchanged` (the table already matches) or `evolved`.

    Raises:
        DdlError: the statement is not a supported `CREATE TABLE`.
        SchemaMismatchError: the table exists with a different schema (and the difference
            is not additive, or `allow_evolution` is off), or exists and the DDL lacks
            `IF NOT EXISTS`.

    >>> apply_ddl(catalog, "CREATE TABLE IF NOT EXISTS db.t (id INT) STORED AS ICEBERG").action  # doctest: +SKIP
    'created'
    """
    table_def = _parse(statement, dialect)
    ident = table_def.identifier
    if catalog.exists(ident):
        return _reconcile(catalog, table_def, allow_evolution)

    namespace = catalog.physical(ident).rsplit(".", 1)[0]
    catalog.ensure_namespace(namespace)
    try:
        catalog.iceberg.create_table(
            catalog.physical(ident),  # in an environment, its own copy (and never production's LOCATION)
            schema=table_def.schema,
            partition_spec=_partition_spec(table_def),
            properties=table_def.properties,
            location=table_def.location if catalog.env is None else None,
        )
    except Exception as exc:
        # A concurrent `IF NOT EXISTS` run may have created it between our check and create.
        if catalog.exists(ident):
            return _reconcile(catalog, table_def, allow_evolution)
        raise CatalogError(f"cannot create table '{ident}': {exc}") from exc
    return DdlResult(ident, "created", [])


def check_ddl(
    catalog: Catalog,
    statement: str | exp.Create,
    *,
    dialect: str = "spark",
    allow_evolution: bool = False,
) -> DdlCheck:
    """What `apply_ddl` would do with `statement`, changing nothing.

    A workflow's preflight calls this for every `CREATE TABLE` of every step, so
    an unsupported type or a DDL that conflicts with the existing table is
    reported before the first step runs.

    Raises:
        DdlError, SchemaMismatchError: exactly as `apply_ddl` would.
    """
    table_def = _parse(statement, dialect)
    ident = table_def.identifier
    if not catalog.exists(ident):
        return DdlCheck(DdlResult(ident, "created", []), table_def.schema)
    added, promoted = _differences(catalog.table(ident), table_def, allow_evolution)
    action: Literal["unchanged", "evolved"] = "evolved" if added or promoted else "unchanged"
    return DdlCheck(DdlResult(ident, action, [a.name for a in added], [p.name for p in promoted]), table_def.schema)


@dataclass(frozen=True)
class DdlCheck:
    """`check_ddl`'s answer: what applying would do, and the schema the DDL declares."""

    result: DdlResult
    schema: Schema


# -- parsing -----------------------------------------------------------------------------------------


def _parse(statement: str | exp.Create, dialect: str) -> _TableDef:
    if isinstance(statement, str):
        try:
            trees = [t for t in sqlglot.parse(statement, read=dialect) if t is not None]
        except SqlglotError as exc:
            raise DdlError(f"cannot parse the DDL as {dialect} SQL: {exc}") from None
        if len(trees) != 1:
            raise DdlError(f"expected exactly one CREATE TABLE statement, found {len(trees)} statements")
        tree = trees[0]
    else:
        tree = statement
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind", "")).upper() != "TABLE":
        raise DdlError(f"expected a CREATE TABLE statement, got: {tree.sql(dialect=dialect)[:80]}")
    if tree.args.get("expression") is not None:
        raise DdlError("CREATE TABLE ... AS SELECT is not supported; declare the columns and write with a job")
    target = tree.this
    if not isinstance(target, exp.Schema) or not isinstance(target.this, exp.Table):
        raise DdlError("CREATE TABLE needs a column list: CREATE TABLE db.table (col TYPE, ...)")
    table = target.this
    if not table.db:
        raise DdlError(f"table '{table.name}' must be qualified as 'namespace.table'")
    ident = normalize_identifier(f"{table.db}.{table.name}")

    ids = itertools.count(1)
    columns: list[NestedField] = []
    for column_def in target.expressions:
        if not isinstance(column_def, exp.ColumnDef):
            raise DdlError(f"{ident}: unsupported table element '{column_def.sql(dialect=dialect)}' (only columns)")
        columns.append(_field(column_def, ids, ident))

    partitions: list[_Partition] = []
    properties: dict[str, str] = {}
    location: str | None = None
    for prop in (tree.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(prop, exp.SchemaCommentProperty):
            properties["comment"] = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty):
            partitions = _partitions(prop.this, columns, ids, ident)
        elif isinstance(prop, exp.FileFormatProperty):
            fmt = prop.this.name.lower() if prop.this is not None else ""
            if fmt != "iceberg":
                raise DdlError(f"{ident}: towpath tables are Iceberg tables; use USING iceberg or STORED AS ICEBERG, not '{fmt}'")
        elif isinstance(prop, exp.LocationProperty):
            location = prop.this.name
        elif type(prop) is exp.Property:  # TBLPROPERTIES ('key' = 'value', ...)
            properties[prop.name] = prop.args["value"].name
        else:
            raise DdlError(
                f"{ident}: unsupported table clause '{prop.sql(dialect=dialect)}'; supported: COMMENT, "
                "PARTITIONED BY, STORED AS ICEBERG / USING iceberg, LOCATION, TBLPROPERTIES"
            )
    names = [c.name.lower() for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DdlError(f"{ident}: column(s) {duplicates} declared more than once")
    return _TableDef(ident, bool(tree.args.get("exists")), Schema(*columns), partitions, properties, location)


def _field(column_def: exp.ColumnDef, ids: itertools.count[int], ident: str) -> NestedField:
    name = column_def.name
    kind = column_def.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise DdlError(f"{ident}: column '{name}' needs a type")
    required, doc = False, None
    for constraint in column_def.args.get("constraints") or []:
        ckind = constraint.args.get("kind") if isinstance(constraint, exp.ColumnConstraint) else constraint
        if isinstance(ckind, exp.CommentColumnConstraint):
            doc = ckind.this.name
        elif isinstance(ckind, exp.NotNullColumnConstraint):
            required = not ckind.args.get("allow_null")
        else:
            raise DdlError(f"{ident}: column '{name}': unsupported constraint '{constraint.sql()}' (COMMENT and NOT NULL are)")
    field_id = next(ids)
    return NestedField(field_id, name, _iceberg_type(kind, ids, f"{ident}.{name}"), required=required, doc=doc)


def _iceberg_type(kind: exp.DataType, ids: itertools.count[int], where: str) -> IcebergType:
    dtype = kind.this
    if dtype in _PRIMITIVES:
        return _PRIMITIVES[dtype]
    params = kind.expressions
    if dtype == DType.DECIMAL:
        values = [int(p.this.name) if isinstance(p, exp.DataTypeParam) else int(p.name) for p in params]
        precision, scale = (values + [10, 0][len(values):])[:2] if values else (10, 0)
        return DecimalType(precision, scale)
    if dtype == DType.ARRAY and len(params) == 1:
        element_id = next(ids)
        return ListType(element_id, _iceberg_type(params[0], ids, where), element_required=False)
    if dtype == DType.MAP and len(params) == 2:
        key_id, value_id = next(ids), next(ids)
        return MapType(key_id, _iceberg_type(params[0], ids, where), value_id, _iceberg_type(params[1], ids, where),
                       value_required=False)
    if dtype == DType.STRUCT:
        fields = []
        for member in params:
            if not isinstance(member, exp.ColumnDef):
                raise DdlError(f"{where}: STRUCT members need names: STRUCT<name: TYPE, ...>")
            fields.append(_field(member, ids, where))
        return StructType(*fields)
    raise DdlError(f"{where}: unsupported type '{kind.sql(dialect='spark')}'")


def _partitions(
    schema_expr: exp.Expression, columns: list[NestedField], ids: itertools.count[int], ident: str
) -> list[_Partition]:
    items = schema_expr.expressions if isinstance(schema_expr, (exp.Schema, exp.Tuple)) else [schema_expr]
    known = {c.name.lower(): c.name for c in columns}
    out: list[_Partition] = []
    for item in items:
        if isinstance(item, exp.ColumnDef):  # Hive style: the partition column is declared here
            if item.name.lower() in known:
                raise DdlError(f"{ident}: partition column '{item.name}' is also declared in the column list")
            new = _field(item, ids, ident)
            columns.append(new)
            known[new.name.lower()] = new.name
            out.append(_Partition(new.name, IdentityTransform()))
            continue
        if isinstance(item, (exp.Identifier, exp.Column)):
            out.append(_Partition(_source(item.name, known, ident), IdentityTransform()))
            continue
        column = item.find(exp.Column) or item.find(exp.Identifier)
        literal = item.find(exp.Literal)
        if isinstance(item, exp.Anonymous):
            fname = item.name.lower()
        else:
            fname = item.key.lower()
        if column is None:
            raise DdlError(f"{ident}: cannot read partition '{item.sql(dialect='spark')}'")
        source = _source(column.name, known, ident)
        if fname in _TIME_TRANSFORMS:
            out.append(_Partition(source, _TIME_TRANSFORMS[fname]))
        elif fname in {"partitionedbybucket", "bucket"} and literal is not None:
            out.append(_Partition(source, BucketTransform(int(literal.name))))
        elif fname in {"partitionbytruncate", "truncate", "trunc"} and literal is not None:
            out.append(_Partition(source, TruncateTransform(int(literal.name))))
        else:
            raise DdlError(
                f"{ident}: unsupported partition transform '{item.sql(dialect='spark')}'; use a column, "
                "years/months/days/hours(col), bucket(N, col) or truncate(col, W)"
            )
    return out


def _source(name: str, known: dict[str, str], ident: str) -> str:
    if name.lower() not in known:
        raise DdlError(f"{ident}: PARTITIONED BY names unknown column '{name}' (columns: {sorted(known.values())})")
    return known[name.lower()]


def _partition_spec(table_def: _TableDef) -> PartitionSpec:
    fields = [
        PartitionField(
            source_id=table_def.schema.find_field(p.column).field_id,
            field_id=1000 + i,
            transform=p.transform,
            name=p.name,
        )
        for i, p in enumerate(table_def.partitions)
    ]
    return PartitionSpec(*fields)


# -- an existing table -------------------------------------------------------------------------------


def _reconcile(catalog: Catalog, table_def: _TableDef, allow_evolution: bool) -> DdlResult:
    ident = table_def.identifier
    table = catalog.table(ident)
    added, promoted = _differences(table, table_def, allow_evolution)
    if not added and not promoted:
        return DdlResult(ident, "unchanged", [])
    table = catalog.table(ident, write=True)
    current = {f.name.lower(): f for f in table.schema().fields}
    try:
        with table.update_schema() as update:
            for column in added:
                update.add_column(column.name, column.field_type, doc=column.doc)
            for column in promoted:
                update.update_column(current[column.name.lower()].name, field_type=column.field_type)
    except CommitFailedException as exc:
        raise ConflictError(f"another writer changed '{ident}' while its schema was evolving: {exc}; rerun to retry") from exc
    return DdlResult(ident, "evolved", [a.name for a in added], [p.name for p in promoted])


def _differences(table: Table, table_def: _TableDef, allow_evolution: bool) -> tuple[list[NestedField], list[NestedField]]:
    """(columns to add, columns to widen) to make `table` match its DDL; anything else raises.

    Raises:
        SchemaMismatchError: the DDL lacks `IF NOT EXISTS`, or the difference is not
            additive, or it is and `allow_evolution` is off.
    """
    ident = table_def.identifier
    if not table_def.if_not_exists:
        raise SchemaMismatchError(f"table '{ident}' already exists; use CREATE TABLE IF NOT EXISTS to make the DDL rerunnable")
    current = {f.name.lower(): f for f in table.schema().fields}
    wanted = {f.name.lower(): f for f in table_def.schema.fields}

    added = [wanted[n] for n in wanted if n not in current]
    missing = [current[n].name for n in current if n not in wanted]
    promoted: list[NestedField] = []
    problems: list[str] = []
    for name in wanted.keys() & current.keys():
        have, want = current[name], wanted[name]
        if have.field_type != want.field_type:
            if _is_safe_promotion(have.field_type, want.field_type):
                promoted.append(want)
            else:
                problems.append(f"column '{have.name}' type changed: table has {have.field_type}, DDL says {want.field_type}")
        if have.required != want.required:
            problems.append(
                f"column '{have.name}' nullability changed: table has "
                f"{'NOT NULL' if have.required else 'nullable'}, DDL says {'NOT NULL' if want.required else 'nullable'}"
            )
    problems += [f"column '{m}' is in the table but missing from the DDL" for m in missing]
    problems += [f"column '{a.name}' is NOT NULL and cannot be added to an existing table" for a in added if a.required]
    have_parts = [(table.schema().find_column_name(f.source_id) or "").lower() + f" ({f.transform})" for f in table.spec().fields]
    want_parts = [f"{p.column.lower()} ({p.transform})" for p in table_def.partitions]
    if have_parts != want_parts:
        problems.append(f"partitioning changed: table has {have_parts or 'none'}, DDL says {want_parts or 'none'}")

    additive = [f"column '{a.name}' ({a.field_type}) added" for a in added if not a.required]
    additive += [f"column '{p.name}' widened to {p.field_type}" for p in promoted]
    if problems or (additive and not allow_evolution):
        hint = "" if problems else "; pass allow_evolution=True (--evolve) to apply these additive changes"
        raise SchemaMismatchError(f"table '{ident}' differs from its DDL: {'; '.join(problems + additive)}{hint}")
    return added, promoted


def _is_safe_promotion(have: IcebergType, want: IcebergType) -> bool:
    if isinstance(have, DecimalType) and isinstance(want, DecimalType):
        return want.scale == have.scale and want.precision > have.precision
    return (type(have), type(want)) in _SAFE_PROMOTIONS
