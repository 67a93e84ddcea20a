"""`engine: spark`: the encode-and-write runs in the Spark executors, one batch writer per partition.

The pinned snapshot's data files are read by Spark (the catalog plans them, as
the Spark engine does for SQL), the row filter applied there, and
`mapInArrow` hands each partition's Arrow batches to `write_partition`, which
opens its own connection to the KV store, encodes every batch with the
version's schema (rebuilt from its JSON, so nothing but plain data is
pickled) and writes it. Each partition returns its row count; the driver only
adds them up. A table larger than the driver's memory moves the same way.

The sample for `sample_matches_source` is the source's first rows, read on the
driver (the executors' rows never come back to it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from towpath.errors import EngineError
from towpath.moves.source import MoveSource
from towpath.moves.spec import MoveSpec
from towpath.protobuf import Encoder, ProtoSchema

if TYPE_CHECKING:
    from towpath.config.project import EngineConfig
    from towpath.moves.audits import Sampler
    from towpath.moves.run import Progress


def write_partition(
    url: str, token: str | None, root: str, proto: dict[str, Any], namespace: str, batch_size: int,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Runs in an executor: encode and write one partition's batches; yields one row with its count."""
    from towpath.kv import open_store

    schema = ProtoSchema.from_json(proto)
    encoder = Encoder(schema)
    written = 0
    with open_store(url, token, root=Path(root)) as store:
        for big in batches:
            for batch in pa.Table.from_batches([big]).to_batches(max_chunksize=batch_size):
                store.put_batch(namespace, encoder.encode_keys(batch), encoder.encode_values(batch))
                written += batch.num_rows
    yield pa.RecordBatch.from_pydict({"rows": pa.array([written], pa.int64())})


def write_with_spark(
    spec: MoveSpec, source: MoveSource, proto: ProtoSchema, namespace: str, root: Path, engine: EngineConfig,
    catalog: Any, progress: Progress | None, sampler: Sampler,
) -> int:
    """Write the pinned table source into `namespace` from the executors; returns the rows written."""
    if "table" not in source.origin:
        raise EngineError("`engine: spark` moves a `table` source (a `sql` source runs on the project's engine)")
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from towpath.engines import get_engine
    from towpath.moves.run import open_kv_token

    columns = [f.arrow.name for f in proto.key.fields] + [f.arrow.name for f in proto.value.fields]
    first = next(source.batches(columns, max(sampler.wanted, 1)), None)
    if first is not None:
        sampler.observe(first, Encoder(proto).encode_keys(first), every_row=True)
    files = source.files
    if not files:
        return 0
    session = get_engine(engine.model_copy(update={"type": "spark"}), catalog).spark  # type: ignore[attr-defined]
    frame = session.read.schema(from_arrow_schema(_plain(source.schema))).parquet(*files)
    if source.origin.get("filter"):
        frame = frame.filter(source.origin["filter"])
    writer = functools.partial(
        write_partition, spec.key_value_dal.url, open_kv_token(spec), str(root), proto.to_json(), namespace,
        spec.key_value_dal.batch_size,
    )
    total = frame.select(*columns).mapInArrow(writer, "rows long").agg(F.sum("rows")).collect()[0][0]
    written = int(total or 0)
    if progress is not None:
        progress(written, source.rows)
    return written


def _plain(schema: pa.Schema) -> pa.Schema:
    """The schema Spark's Arrow conversion accepts: no field metadata, large types as their plain forms."""
    return pa.schema([pa.field(f.name, _plain_type(f.type), f.nullable) for f in schema])


def _plain_type(dtype: pa.DataType) -> pa.DataType:
    if isinstance(dtype, pa.BaseExtensionType):
        return _plain_type(dtype.storage_type)
    if pa.types.is_large_string(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return pa.binary()
    if pa.types.is_large_list(dtype) or pa.types.is_list(dtype):
        return pa.list_(pa.field("element", _plain_type(dtype.value_type), dtype.value_field.nullable))
    if pa.types.is_map(dtype):
        return pa.map_(_plain_type(dtype.key_type), pa.field("value", _plain_type(dtype.item_type), dtype.item_field.nullable))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _plain_type(f.type), f.nullable) for f in dtype])
    return dtype
