"""The copy-on-write half of a CDC batch: new data files for the files a batch's keys may touch, by DuckDB.

A batch replaces every current data file that may hold one of its keys with
new files: that file's rows minus the batch's keys, plus the keys' new
versions. Which files "may hold" a key comes from the manifests alone (the
first key column's lower/upper bounds; a file without bounds is always
rewritten), so a batch of keys clustered in a range (new rows, a recent
account range) leaves the files of other ranges alone. Random keys over a
large table still touch every file, and then the batch rewrites the table:
that rewrite is the cost of a batch, so it is DuckDB's (all cores), not
pyiceberg's (pyarrow's Parquet writer on one core, per file): profiled on
10M rows, writing Parquet was ~60 % of a batch and reading ~25 %; DuckDB does
both, and the anti-join, in about a fifth of the time (docs/benchmarks.md).

The output is one stream per partition (the removed files' rows and the
partition's new rows) in Parquet with the table's Iceberg field ids, its codec
and level (`write.parquet.compression-codec|level`, zstd level 1 by default, as
pyarrow writes it) and split at its target file size. It is not sorted: a sort
of 10M rows doubled the batch's CPU, and random keys would rewrite every file
again whatever their ranges. Files go straight to the table's
location when it is a local path; on object storage DuckDB reads through the
table's file IO (a pyarrow dataset) and the files it writes locally are
uploaded through the file IO too. Each file's `DataFile` (metrics, bounds) is
read back from its Parquet footer, as pyiceberg's `add_files` does; the
caller commits them in the batch's one overwrite snapshot.
"""

from __future__ import annotations

import bisect
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import (
    ArrowScan,
    _determine_partitions,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.locations import load_location_provider
from pyiceberg.typedef import Record
from pyiceberg.types import ListType, MapType, NestedField, PrimitiveType, StructType
from sqlglot import exp

from towpath.cdc.errors import CdcError

__all__ = ["DICTIONARY_PROPERTY", "Rewrite", "Rewriter", "discard"]

_DEFAULT_TARGET_FILE_BYTES = 512 * 1024 * 1024
"""Iceberg's `write.target-file-size-bytes` default."""


@dataclass(frozen=True)
class Rewrite:
    """What one batch changes in the table's file list."""

    removed: list[DataFile]
    added: list[DataFile]
    rows_rewritten: int
    """Rows carried over from the removed files (the cost of copy-on-write)."""


class Rewriter:
    """A DuckDB connection that rewrites files of one table, batch after batch (kept open: the job's)."""

    def __init__(self, threads: int | None = None) -> None:
        self._con = duckdb.connect(":memory:", config={"threads": threads} if threads else {})
        self._con.execute("SET preserve_insertion_order = false")
        # The anti-join builds its hash table on the batch's keys, as written: DuckDB's planner
        # otherwise flips it whenever it cannot estimate the files' rows (read_parquet with a field-id
        # `schema` reports ~0), and then hashes the whole table (10M rows: +40 % CPU, measured).
        self._con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        self._layouts = _Layouts()

    def close(self) -> None:
        self._con.close()

    def rewrite(self, table: Table, keys: pa.Table, upserts: pa.Table) -> Rewrite:
        """New files for every file of `table` that may hold one of `keys`: its rows without them, plus `upserts`.

        `keys` holds every changed key of the batch (deletes too) and `upserts`
        the new version of each key that still exists, both in the table's
        types (`conform`). The files are written but not committed; the caller
        deletes them (`discard`) when its commit fails.
        """
        metadata = table.metadata
        schema = metadata.schema()
        ordered, field = _sorted_keys(keys), schema.find_field(keys.column_names[0])
        removed = [task.file for task in table.scan().plan_files() if _may_hold(task.file, ordered, field)]
        spec_id = metadata.default_spec_id
        groups: dict[Record, list[DataFile]] = {}
        foreign = [f for f in removed if f.spec_id != spec_id]  # under an older partition spec: re-partitioned
        for data_file in removed:
            if data_file.spec_id == spec_id:
                groups.setdefault(data_file.partition, []).append(data_file)
        with self._inputs(table, keys) as inputs:
            inputs.dictionaries = _dictionaries_pay(upserts, keys.column_names, metadata.properties)
            new_rows = upserts
            if foreign:
                new_rows = pa.concat_tables([upserts, inputs.kept(foreign).cast(upserts.schema)])
            by_partition = {Record(): new_rows} if metadata.spec().is_unpartitioned() or not new_rows.num_rows else {
                part.partition_key.partition: part.arrow_table_partition
                for part in _determine_partitions(metadata.spec(), schema, new_rows)}
            added: list[DataFile] = []
            try:
                for record in [*groups, *(r for r in by_partition if r not in groups)]:
                    added += inputs.write(groups.get(record, []), by_partition.get(record), record)
            except BaseException:
                discard(table, added)
                raise
        self._layouts.replaced(removed, added)
        return Rewrite(removed, added, sum(f.record_count for f in removed))

    @contextmanager
    def _inputs(self, table: Table, keys: pa.Table) -> Iterator[_Inputs]:
        inputs = _Inputs(self._con, table, keys.column_names, self._layouts)
        try:
            inputs.keys = inputs.register(keys)
            yield inputs
        finally:
            inputs.close()


def discard(table: Table, files: Sequence[DataFile]) -> None:
    """Delete written files no snapshot will reference (a commit that failed or lost its race)."""
    for data_file in files:
        try:
            table.io.delete(data_file.file_path)
        except OSError:
            pass  # an orphan, left for `towpath table gc`


class _Inputs:
    """One batch's SQL: the current files minus the batch's keys, plus the new rows, written per partition."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: Table, key: list[str], layouts: _Layouts) -> None:
        self.con, self.table, self.key = con, table, key
        self.schema = table.metadata.schema()
        self.columns = [exp.column(f.name, quoted=True) for f in self.schema.fields]
        self.types = self.con.from_arrow(self.schema.as_arrow().empty_table()).types
        self.local = _local_path(table.metadata.location) is not None
        self.evolved = len(table.metadata.schemas) > 1
        """Files may predate a renamed or added column (see `_read`)."""
        self.layouts = layouts.of(table.metadata.current_schema_id) if self.local and self.evolved else None
        self.keys = ""
        self.dictionaries = True
        """Whether the Parquet writer tries dictionary encoding (`_dictionaries_pay`)."""
        self._registered: list[str] = []

    def register(self, data: pa.Table | pa.RecordBatchReader) -> str:
        """`data` under a fresh name on the connection, until `close`."""
        name = f"__towpath_{len(self._registered)}_{uuid.uuid4().hex}"
        self.con.register(name, data)
        self._registered.append(name)
        return name

    def close(self) -> None:
        for name in self._registered:
            self.con.unregister(name)

    def kept(self, files: Sequence[DataFile]) -> pa.Table:
        """The rows of `files` whose key is not in the batch, as Arrow."""
        return self.con.sql(self._kept(files).sql("duckdb")).to_arrow_table()

    def write(self, files: Sequence[DataFile], new_rows: pa.Table | None, partition: Record) -> list[DataFile]:
        """Files holding `files`' kept rows and `new_rows` (all of one partition)."""
        parts: list[exp.Query] = [self._kept(files)] if files else []
        if new_rows is not None and new_rows.num_rows:
            parts.append(exp.select(*self.columns).from_(exp.to_identifier(self.register(new_rows), quoted=True)))
        if not parts:
            return []
        query = parts[0]
        for part in parts[1:]:
            query = exp.union(query, part, distinct=False)
        return self._copy(query, partition)

    def _kept(self, files: Sequence[DataFile]) -> exp.Query:
        """SELECT the rows of `files` whose key is not in the batch (a UNION ALL when some are read by field id)."""
        if not self.local:
            return self._anti(self.columns, exp.to_identifier(self.register(_stream(self.table, files)), quoted=True))
        readable = [self.layouts is None or self.layouts.by_name(f.file_path, self.schema) for f in files]
        by_name = [f for f, ok in zip(files, readable, strict=True) if ok]
        by_id = [f for f, ok in zip(files, readable, strict=True) if not ok]
        parts: list[exp.Query] = []
        if by_name:  # give each column the type the field-id read gives it
            typed: list[exp.Expr] = [exp.cast(c, exp.DataType.build(str(kind), dialect="duckdb")).as_(c.name, quoted=True)
                                     for c, kind in zip(self.columns, self.types, strict=True)]
            parts.append(self._anti(typed, exp.func("read_parquet", _paths(by_name), dialect="duckdb")))
        if by_id:
            schema = exp.EQ(this=exp.column("schema"), expression=self._field_map())
            parts.append(self._anti(self.columns, exp.func("read_parquet", _paths(by_id), schema, dialect="duckdb")))
        query = parts[0]
        for part in parts[1:]:
            query = exp.union(query, part, distinct=False)
        return query

    def _anti(self, columns: Sequence[exp.Expr], source: exp.Expr) -> exp.Select:
        """`columns` of `source`'s rows whose key is not one of the batch's.

        Local files are read by name when their columns carry today's names and
        field ids (every file of a table that has had one schema; after a rename
        or an added column, the files written since: `_Layouts`), else by field
        id through read_parquet's `schema` map (a file from before an added column
        reads it as NULL), as the DuckDB engine reads. DuckDB scans a file read by
        field id on one thread (measured: 2.5 s instead of 1.2 s for 10M rows in
        one file on two cores), so only files older than the schema pay for it.
        """
        return (exp.select(*columns).from_(source)
                .join(exp.to_identifier(self.keys, quoted=True), using=[exp.to_identifier(k, quoted=True) for k in self.key],
                      join_type="anti"))

    def _field_map(self) -> exp.Expr:
        """`MAP {field id: {name, type, default_value}}`, read_parquet's `schema` (as the DuckDB engine reads)."""
        return exp.ToMap(this=exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.Literal.number(f.field_id), expression=exp.Struct(expressions=[
                exp.PropertyEQ(this=exp.to_identifier("name"), expression=exp.Literal.string(f.name)),
                exp.PropertyEQ(this=exp.to_identifier("type"), expression=exp.Literal.string(str(kind))),
                exp.PropertyEQ(this=exp.to_identifier("default_value"), expression=exp.Null())]))
            for f, kind in zip(self.schema.fields, self.types, strict=True)]))

    def _copy(self, query: exp.Query, partition: Record) -> list[DataFile]:
        properties = self.table.metadata.properties
        codec = properties.get("write.parquet.compression-codec", "zstd").lower()
        params: dict[str, exp.Expr] = {
            "FORMAT": exp.var("parquet"),
            "FIELD_IDS": _field_ids(self.schema.fields),
            "COMPRESSION": exp.var("lz4_raw" if codec == "lz4" else codec),
            "FILE_SIZE_BYTES": exp.Literal.number(int(properties.get("write.target-file-size-bytes",
                                                                      _DEFAULT_TARGET_FILE_BYTES))),
            "FILENAME_PATTERN": exp.Literal.string(f"{uuid.uuid4()}-{{uuid}}"),
            "APPEND": exp.true(),
            "RETURN_FILES": exp.true(),
        }
        if not self.dictionaries:
            params["DICTIONARY_SIZE_LIMIT"] = exp.Literal.number(1)  # DuckDB's only switch: for every column
        level = properties.get("write.parquet.compression-level") or ("1" if codec == "zstd" else None)
        if level is not None:
            params["COMPRESSION_LEVEL"] = exp.Literal.number(int(level))
        provider = load_location_provider(self.table.metadata.location, properties)
        folder = provider.new_data_location("probe.parquet").rsplit("/", 1)[0]
        with _staging(folder) as local:
            copy = exp.Copy(this=query.subquery(), kind=False, files=[exp.Literal.string(str(local))],
                            params=[exp.CopyParameter(this=exp.var(k), expression=v) for k, v in params.items()])
            row = self.con.sql(copy.sql("duckdb")).fetchone()
            assert row is not None
            written = [Path(p) for p in row[1]]
            return [self._data_file(path, f"{folder}/{path.name}", partition) for path in written]

    def _data_file(self, path: Path, location: str, partition: Record) -> DataFile:
        metadata = self.table.metadata
        if not self.local:
            with self.table.io.new_output(location).create(overwrite=False) as out, path.open("rb") as src:
                shutil.copyfileobj(src, out, 8 * 1024 * 1024)
        footer = pq.read_metadata(path)
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=footer,
            stats_columns=compute_statistics_plan(self.schema, metadata.properties),
            parquet_column_mapping=parquet_path_to_id_mapping(self.schema),
        )
        return DataFile.from_args(
            content=DataFileContent.DATA, file_path=location, file_format=FileFormat.PARQUET, partition=partition,
            file_size_in_bytes=path.stat().st_size, sort_order_id=None, spec_id=metadata.default_spec_id,
            equality_ids=None, key_metadata=None, **statistics.to_serialized_dict())


@contextmanager
def _staging(folder: str) -> Iterator[Path]:
    """Where DuckDB writes: the table's data folder itself when local, else a temporary folder (uploaded)."""
    local = _local_path(folder)
    if local is not None:
        local.mkdir(parents=True, exist_ok=True)
        yield local
        return
    staging = Path(tempfile.mkdtemp(prefix="towpath-cdc-"))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Layouts:
    """Which current files carry today's column names and field ids (so DuckDB may read them by name).

    Kept per schema id and pruned to the table's files as batches replace
    them: the files a batch writes carry the current schema by construction,
    an older file is looked up once in its Parquet footer.
    """

    def __init__(self) -> None:
        self._schema_id: int | None = None
        self._known: dict[str, bool] = {}

    def of(self, schema_id: int) -> _Layouts:
        if schema_id != self._schema_id:
            self._schema_id, self._known = schema_id, {}
        return self

    def by_name(self, location: str, schema: Schema) -> bool:
        known = self._known.get(location)
        if known is None:
            known = self._known[location] = _carries(location, schema)
        return known

    def replaced(self, removed: Sequence[DataFile], added: Sequence[DataFile]) -> None:
        for data_file in removed:
            self._known.pop(data_file.file_path, None)
        if self._schema_id is not None:
            self._known.update((f.file_path, True) for f in added)


def _carries(location: str, schema: Schema) -> bool:
    """Whether the local Parquet file holds every top-level field of `schema` under its name and field id."""
    if any(not isinstance(f.field_type, PrimitiveType) for f in schema.fields):
        return False  # nested fields' children may be renamed too: left to the field-id read
    path = _local_path(location)
    assert path is not None
    found = {f.name: (f.metadata or {}).get(b"PARQUET:field_id") for f in pq.read_schema(path)}
    return all(found.get(f.name) == str(f.field_id).encode() for f in schema.fields)


def _paths(files: Sequence[DataFile]) -> exp.Array:
    return exp.Array(expressions=[exp.Literal.string(str(_local_path(f.file_path))) for f in files])


def _local_path(location: str) -> Path | None:
    if location.startswith("file:"):
        return Path(location.removeprefix("file:").removeprefix("//"))
    return Path(location) if "://" not in location else None


def _stream(table: Table, files: Sequence[DataFile]) -> pa.RecordBatchReader:
    """Files on the table's object store, read by pyiceberg through its file IO (by field id), for DuckDB to scan."""
    tasks = [FileScanTask(f) for f in files]
    scan = ArrowScan(table_metadata=table.metadata, io=table.io, projected_schema=table.metadata.schema(),
                     row_filter=AlwaysTrue())
    schema = table.metadata.schema().as_arrow()
    return pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in scan.to_record_batches(tasks)))


DICTIONARY_PROPERTY = "towpath.cdc.parquet-dictionary"
"""Table property: `auto` (the default, `_dictionaries_pay`), `true` or `false`."""

_SAMPLE_ROWS = 10_000


def _dictionaries_pay(rows: pa.Table, key: Sequence[str], properties: dict[str, str]) -> bool:
    """Whether the rewrite's Parquet writer should try dictionaries, from the table property or the batch's rows.

    DuckDB's writer tries a dictionary for every column of every row group and
    writes PLAIN when it overflows; it can only switch dictionaries off for
    all columns. A nearly unique column (the batch's changed rows are a sample
    of the table's: more than half distinct) overflows in every row group, so
    its attempts are pure cost: on the bench table (10M rows, a unique `name`)
    writing without dictionaries took 26 % less CPU and 16 % fewer bytes, no
    column larger under zstd (docs/benchmarks.md). The key is left out: it is
    unique in every table, and dictionaries of the other columns may still pay.
    """
    setting = properties.get(DICTIONARY_PROPERTY, "auto").lower()
    if setting not in ("auto", "true", "false"):
        raise CdcError(f"table property {DICTIONARY_PROPERTY}={properties[DICTIONARY_PROPERTY]!r}: expected auto, "
                       "true or false")
    if setting != "auto":
        return setting == "true"
    sample = rows.slice(0, _SAMPLE_ROWS)
    if sample.num_rows < 1_000:
        return True  # too few rows to tell: DuckDB's default
    for name in sample.column_names:
        column = sample.column(name)
        if name in key or pa.types.is_nested(column.type) or pa.types.is_boolean(column.type):
            continue
        if pc.count_distinct(column).as_py() > sample.num_rows // 2:
            return False
    return True


def _may_hold(data_file: DataFile, ordered: list[Any], field: NestedField) -> bool:
    """Whether `data_file`'s bounds on the key column `field` admit one of the `ordered` keys (no bounds: it may)."""
    lower, upper = data_file.lower_bounds.get(field.field_id), data_file.upper_bounds.get(field.field_id)
    if lower is None or upper is None:
        return True
    kind = field.field_type
    assert isinstance(kind, PrimitiveType), "a primary key column is primitive"
    low, high = from_bytes(kind, lower), from_bytes(kind, upper)
    at = bisect.bisect_left(ordered, low)
    return at < len(ordered) and bool(ordered[at] <= high)


def _sorted_keys(keys: pa.Table) -> list[Any]:
    """The first key column sorted, as the Python values `from_bytes` gives bounds (days, micros, ...)."""
    column = keys.column(0)
    if pa.types.is_date(column.type):
        column = column.cast(pa.int32())
    elif pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    ordered: list[Any] = column.take(pc.sort_indices(column)).to_pylist()
    return ordered


def _field_ids(fields: Sequence[NestedField]) -> exp.Struct:
    """DuckDB's `FIELD_IDS` for Iceberg fields: `{col: id}`, nested as `{col: {__duckdb_field_id: id, child: ...}}`."""
    entries: list[exp.Expr] = []
    for field in fields:
        children = _children(field)
        value: exp.Expr = exp.Literal.number(field.field_id)
        if children:
            value = exp.Struct(expressions=[
                exp.PropertyEQ(this=exp.to_identifier("__duckdb_field_id"), expression=value),
                *_field_ids(children).expressions])
        entries.append(exp.PropertyEQ(this=exp.to_identifier(field.name, quoted=True), expression=value))
    return exp.Struct(expressions=entries)


def _children(field: NestedField) -> list[NestedField]:
    kind = field.field_type
    if isinstance(kind, StructType):
        return list(kind.fields)
    if isinstance(kind, ListType):
        return [kind.element_field]
    if isinstance(kind, MapType):
        return [kind.key_field, kind.value_field]
    return []

