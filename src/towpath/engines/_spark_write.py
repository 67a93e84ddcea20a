"""Distributed writes for `engine: spark`: the executors write the Parquet files, the driver commits them.

The driver shapes the DataFrame to the table with Spark expressions (column
order, casts, nulls for missing nullable columns), checked first by
`towpath.catalog.conform` on its empty Arrow schema so the messages are the
DuckDB path's. `mapInArrow` hands each partition's Arrow batches to
`write_batches`, running in the executor's Python worker: it rebuilds the table
metadata from its JSON and the FileIO from its properties (nothing but plain
data is pickled), conforms each group of batches with the same `conform` and
writes it with pyiceberg's `_dataframe_to_data_files` (the Iceberg schema's
field ids, the table's partition layout), then yields one row per data file:
its fields, serialised. The driver collects only those rows and commits the
files with `Catalog.commit_files` on the `refs` branch in one snapshot, so
Write-Audit-Publish is the same on both engines and a result larger than the
driver's memory is written as easily as a small one.

A partitioned table with identity partitions is first hash-distributed by its
partition columns, as Iceberg's Spark writer does by default, so each
partition is written by one task into few files; the table property
`write.distribution-mode=none` skips the shuffle.
"""

from __future__ import annotations

import functools
import itertools
import pickle
import uuid
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from towpath.catalog import Catalog, WriteMode, conform
from towpath.errors import SchemaMismatchError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["GROUP_BYTES", "conform_frame", "spark_arrow_schema", "write_batches", "write_frame"]

GROUP_BYTES = 64 * 1024 * 1024
"""Arrow bytes an executor gathers before writing them: bounds a worker's memory whatever the partition's size."""

_RESULT = pa.schema([("rows", pa.int64()), ("error", pa.string()), ("file", pa.binary())])
"""One row per data file written (or one `error` row): all that comes back to the driver."""


def write_frame(
    catalog: Catalog,
    frame: DataFrame,
    identifier: str,
    mode: WriteMode,
    *,
    branch: str,
    properties: dict[str, str] | None = None,
) -> tuple[int, int | None]:
    """Write `frame` to `identifier` from the executors and commit it to `branch`; rows written, new snapshot.

    Raises:
        UnstagedWriteError: the write scope does not allow `branch` (checked before any file is written).
        SchemaMismatchError: the frame's columns do not fit the table.
    """
    catalog.check_write(identifier, branch)
    table = catalog.table(identifier)
    shaped = _distribute(conform_frame(frame, table.schema().as_arrow(), identifier), table)
    writer = functools.partial(
        write_batches, table.metadata.model_dump_json(), dict(table.io.properties), identifier, GROUP_BYTES
    )
    from pyspark.sql.pandas.types import from_arrow_schema

    with warnings.catch_warnings():  # pyspark 4 warns on every mapInArrow that it has not caught up with pandas 3
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        results = shaped.mapInArrow(writer, from_arrow_schema(_RESULT)).collect()
    files = [_decode(row.file) for row in results if row.file is not None]
    errors = [row.error for row in results if row.error]
    try:
        if errors:
            raise SchemaMismatchError(errors[0])
        snapshot = catalog.commit_files(identifier, files, mode, branch=branch, properties=properties)
    except BaseException:
        for data_file in files:  # committed nowhere: leave no orphans behind
            table.io.delete(data_file.file_path)
        raise
    return sum(row.rows for row in results), snapshot


def conform_frame(frame: DataFrame, target: pa.Schema, identifier: str) -> DataFrame:
    """`frame` with `target`'s columns in order and types (matched by name, case-insensitive)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    conform(to_arrow_schema(frame.schema).empty_table(), target, identifier)  # the DuckDB path's checks and messages
    by_lower = {name.lower(): name for name in frame.columns}
    types = {field.name: field.dataType for field in frame.schema.fields}
    columns = []
    for field in from_arrow_schema(spark_arrow_schema(target)).fields:
        source = by_lower.get(field.name.lower())
        if source is None:
            columns.append(F.lit(None).cast(field.dataType).alias(field.name))
            continue
        column = F.col(f"`{source.replace('`', '``')}`")
        columns.append((column if types[source] == field.dataType else column.cast(field.dataType)).alias(field.name))
    return frame.select(*columns)


def write_batches(
    metadata_json: str, io_properties: dict[str, str], identifier: str, group_bytes: int,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Runs in an executor: write one partition's batches as data files; yields one row per file.

    Batches are gathered into groups of about `group_bytes` and each group is
    written on its own, so a worker holds one group, never its whole partition.
    A group that does not fit the table (a null in a required column) yields an
    `error` row and stops; the driver raises it and deletes the files written.
    """
    from pyiceberg.io import load_file_io
    from pyiceberg.io.pyarrow import _dataframe_to_data_files
    from pyiceberg.table.metadata import TableMetadataUtil

    metadata = TableMetadataUtil.parse_raw(metadata_json)
    io = load_file_io(io_properties, metadata.location)
    schema = metadata.schema().as_arrow()
    group: list[pa.RecordBatch] = []
    size = 0
    for batch in itertools.chain(batches, [None]):  # None: the end, write what is left
        if batch is not None:
            group.append(batch)
            size += batch.nbytes
            if size < group_bytes:
                continue
        if not group:
            continue
        try:
            data = conform(pa.Table.from_batches(group), schema, identifier)
        except SchemaMismatchError as err:
            yield pa.RecordBatch.from_pydict({"rows": [0], "error": [str(err)], "file": [None]}, schema=_RESULT)
            return
        group, size = [], 0
        for data_file in _dataframe_to_data_files(table_metadata=metadata, df=data, io=io, write_uuid=uuid.uuid4()):
            yield pa.RecordBatch.from_pydict(
                {"rows": [data_file.record_count], "error": [None], "file": [pickle.dumps(data_file)]}, schema=_RESULT
            )


def _decode(payload: bytes) -> DataFile:
    """A data file an executor pickled (a `DataFile` pickles its fields: path, partition, statistics)."""
    data_file = pickle.loads(payload)
    assert isinstance(data_file, DataFile)
    return data_file


def _distribute(frame: DataFrame, table: Table) -> DataFrame:
    """Hash-distribute by identity partition columns (Iceberg's default), unless the table says `none`."""
    spec = table.spec()
    if (
        spec.is_unpartitioned()
        or table.properties.get("write.distribution-mode", "hash") == "none"
        or not all(isinstance(field.transform, IdentityTransform) for field in spec.fields)
    ):
        return frame
    schema = table.schema()
    return frame.repartition(*[schema.find_field(field.source_id).name for field in spec.fields])


def spark_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with large string/binary types as plain ones, no field metadata: what Spark's Arrow conversion takes."""
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind):
            kind = pa.binary()
        fields.append(pa.field(field.name, kind, field.nullable))
    return pa.schema(fields)
