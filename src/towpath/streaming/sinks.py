"""Where a stream's windows go: an Iceberg table of the catalog, or Parquet/CSV files under a lake path.

The runner decodes each window against `sink.schema()`, has the sink created
from the first window (or add new fields as nullable columns), and hands it
the rows, dead letters and offsets in `commit()`, which is atomic and
conditional on the offsets the worker started from: a second instance owning
the same partitions is fenced (`StreamFencedError`).

- `TableSink`: one Iceberg commit per window, the offsets in its snapshot
  summary (`towpath.publish.StreamWindowPublisher`); the table is the record,
  the state store's offset ledger a mirror. Compacts every `compaction.interval`.
- `FileSink`: staged files, one state-store transaction (offsets + the file
  moves), idempotent moves (`towpath.publish.FileWindowPublisher`); the state
  store is the record of offsets and of the sink's schema.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from towpath.catalog import Catalog, compact, expire_snapshots, last_compacted, read_position
from towpath.publish import (
    FileWindow,
    FileWindowPublisher,
    LakeFolder,
    StreamWindowPublisher,
    WindowData,
    open_path,
)
from towpath.state import OffsetConflictError, StateStore
from towpath.status import Status
from towpath.streaming import schema as table_schema
from towpath.streaming.client import Partition
from towpath.streaming.errors import StreamError, StreamFencedError
from towpath.streaming.spec import StreamSpec

DEAD_LETTER_SCHEMA = pa.schema([
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("timestamp", pa.timestamp("us", "UTC")), ("key", pa.binary()), ("raw", pa.binary()),
    ("error", pa.string()), ("stream", pa.string()),
])
CSV_HEADER = "csv_header"
EXPIRE_EVERY = 20
"""A table sink expires old snapshots every this many windows (and after each compaction)."""
RETAIN_SNAPSHOTS = 5


class Sink(Protocol):
    target: str
    """What status prints: the table, or the path."""

    def exists(self) -> bool: ...
    def position(self) -> dict[str, int]: ...
    def schema(self) -> pa.Schema: ...
    def create(self, schema: pa.Schema) -> None: ...
    def create_from_columns(self, columns: Mapping[str, str]) -> None: ...
    def add_columns(self, rows: pa.Table) -> list[str]: ...
    def csv_header(self) -> list[str] | None: ...
    def record_csv_header(self, names: list[str]) -> list[str]: ...
    def commit(
        self, name: str, rows: pa.Table, dead: pa.Table, start: dict[str, int], expected: dict[str, int | None],
        position: dict[str, int],
    ) -> int | None: ...
    def recover(self) -> None: ...
    def maintenance_due(self, windows: int) -> bool: ...
    def maintain(self) -> bool: ...


def open_sink(
    spec: StreamSpec, root: Path, catalog: Catalog, state: StateStore, *, worker: str = "all", run: str = "local",
) -> Sink:
    """The sink `spec.sink` names (`worker`, the partitions it owns, and `run` key a files sink's staging folder)."""
    if spec.sink.table is not None:
        return TableSink(spec, catalog, state)
    return FileSink(spec, root, state, worker, run)


def fenced(stream: str, exc: Exception) -> StreamFencedError:
    return StreamFencedError(
        f"stream '{stream}': {exc} -- stopping; only one worker may own a partition "
        "(check `towpath stream status` and --worker I/N)"
    )


class TableSink:
    """An Iceberg table (and its dead-letter table): the offsets live in the table's snapshots."""

    def __init__(self, spec: StreamSpec, catalog: Catalog, state: StateStore) -> None:
        assert spec.sink.table is not None
        self.spec, self.catalog, self.state = spec, catalog, state
        self.target = self.table = spec.sink.table
        self.dead_letter_table = spec.sink.dead_letter_table
        self.publisher = StreamWindowPublisher(catalog, self.table, self.dead_letter_table, source=spec.name)
        self._compacted: float | None = None
        """When the table was last compacted (epoch seconds), read from it once, then kept by this run."""
        self._compact_next = False

    def exists(self) -> bool:
        return self.catalog.exists(self.table)

    def position(self) -> dict[str, int]:
        if not self.exists():
            return {}
        return {k: int(v) for k, v in read_position(self.catalog, self.table, self.spec.name).items()}

    def schema(self) -> pa.Schema:
        return self.catalog.table(self.table).schema().as_arrow()

    def create(self, schema: pa.Schema) -> None:
        table_schema.create_table(self.catalog, self.table, schema, self.spec.sink.partition_by)
        table_schema.create_table(self.catalog, self.dead_letter_table, DEAD_LETTER_SCHEMA)

    def create_from_columns(self, columns: Mapping[str, str]) -> None:
        table_schema.create_table_from_columns(self.catalog, self.table, columns, self.spec.sink.partition_by)
        table_schema.create_table(self.catalog, self.dead_letter_table, DEAD_LETTER_SCHEMA)

    def add_columns(self, rows: pa.Table) -> list[str]:
        return table_schema.add_columns(self.catalog, self.table, rows)

    @property
    def _header_property(self) -> str:
        return f"towpath.stream.{self.spec.name}.{CSV_HEADER}"

    def csv_header(self) -> list[str] | None:
        if not self.exists():
            return None
        raw = self.catalog.table(self.table).properties.get(self._header_property)
        return None if raw is None else list(json.loads(raw))

    def record_csv_header(self, names: list[str]) -> list[str]:
        """Record the header as a table property (the first writer's wins); returns the recorded one."""
        key = self._header_property

        def attempt(table: object) -> list[str]:
            current = table.properties.get(key)  # type: ignore[attr-defined]
            if current is not None:
                return list(json.loads(current))
            with table.transaction() as txn:  # type: ignore[attr-defined]
                txn.set_properties({key: json.dumps(names)})
            return names

        return self.catalog.commit_with_retry(self.table, attempt, what="recording the CSV header")

    def commit(
        self, name: str, rows: pa.Table, dead: pa.Table, start: dict[str, int], expected: dict[str, int | None],
        position: dict[str, int],
    ) -> int | None:
        from towpath.catalog import PositionConflictError

        staged = self.publisher.stage(name, attempt=1)
        self.publisher.put(staged, WindowData(rows, dead, expected, position))
        try:
            published = self.publisher.publish(staged)
        except PositionConflictError as exc:
            raise fenced(self.spec.name, exc) from None
        snapshot_id = published.versions[self.table]
        # a mirror for `stream status` of other tools; the table is the record
        self.state.offsets.commit(self.spec.name, {Partition.parse(k).tp: v for k, v in position.items()},
                                  snapshot_id=snapshot_id)
        return snapshot_id

    def recover(self) -> None:
        """Nothing to finish: a window is one commit (data files of a killed one are garbage for `table gc`)."""

    def maintenance_due(self, windows: int) -> bool:
        """Compaction: `compaction.interval` after the table's last one, or every `compaction.every` windows;
        snapshot expiry alone every `EXPIRE_EVERY` windows in between (each commit copies the table metadata,
        so its snapshot list must stay short however rarely the job compacts)."""
        compaction = self.spec.compaction
        if not compaction.enabled:
            return False
        self._compact_next = self._compaction_due(windows)
        return self._compact_next or windows % EXPIRE_EVERY == 0

    def _compaction_due(self, windows: int) -> bool:
        compaction = self.spec.compaction
        if compaction.every is not None and windows % compaction.every == 0:
            return True
        interval = compaction.interval_s
        if interval is None:
            return False
        if self._compacted is None:
            self._compacted = self._last_compacted()
        return time.time() - self._compacted >= interval

    def _last_compacted(self) -> float:
        """When the table was last compacted (never: its oldest snapshot, the age of its oldest small files)."""
        last = last_compacted(self.catalog, self.table)
        if last is not None:
            return last.timestamp()
        stamps = [s.timestamp_ms for s in self.catalog.table(self.table).snapshots()]
        return min(stamps) / 1000 if stamps else time.time()

    def maintain(self) -> bool:
        """Compact the table when due, and expire old snapshots; whether a compaction snapshot was made."""
        if not self._compact_next:
            expire_snapshots(self.catalog, self.table, older_than=dt.timedelta(0), retain_last=RETAIN_SNAPSHOTS)
            return False
        self._compacted = time.time()  # the next one is due an interval from now, even if this one fails
        result = compact(self.catalog, self.table, expire_older_than=dt.timedelta(0), retain_last=RETAIN_SNAPSHOTS)
        return result.snapshot_id is not None


class FileSink:
    """Parquet/CSV files under a lake path; offsets, schema and the file-move log live in the state store."""

    def __init__(self, spec: StreamSpec, root: Path, state: StateStore, worker: str, run: str) -> None:
        sink = spec.sink
        assert sink.path is not None
        self.spec, self.state = spec, state
        self.target = sink.path
        fs, data_root = open_path(sink.path, root)
        dead_fs, dead_root = open_path(sink.dead_letter_path, root)
        if type(dead_fs) is not type(fs):
            raise StreamError(f"sink.dead_letters ({sink.dead_letter_path}) must be on the same storage as "
                              f"sink.path ({sink.path})")
        fmt = sink.format or "parquet"
        self.data = LakeFolder(fs, data_root, fmt, tuple(sink.partition_by))
        self.dead = LakeFolder(fs, dead_root, "parquet")  # dead letters keep raw bytes: always Parquet
        self.publisher = FileWindowPublisher(self.data, self.dead, state.offsets, stream=spec.name, worker=worker,
                                             run=run)

    def exists(self) -> bool:
        return "schema" in self.state.offsets.sink_meta(self.spec.name)

    def position(self) -> dict[str, int]:
        return {f"{o.topic}/{o.partition}": o.next_offset for o in self.state.offsets.of_stream(self.spec.name)}

    def schema(self) -> pa.Schema:
        return _schema(self.state.offsets.sink_meta(self.spec.name)["schema"])

    def create(self, schema: pa.Schema) -> None:
        fields = [pa.field(f.name, table_schema.recognise_type(f.type)) for f in schema]
        self.state.offsets.update_sink_meta(self.spec.name, "schema", lambda current: current or _text(pa.schema(fields)))

    def create_from_columns(self, columns: Mapping[str, str]) -> None:
        self.create(arrow_schema(columns))

    def add_columns(self, rows: pa.Table) -> list[str]:
        added: list[str] = []

        def union(current: str | None) -> str:
            known = _schema(current) if current else pa.schema([])
            names = {name.lower() for name in known.names}
            new = [pa.field(f.name, table_schema.recognise_type(f.type)) for f in rows.schema
                   if f.name.lower() not in names]
            added[:] = [f.name for f in new]
            return _text(pa.schema([*known, *new])) if new else (current or _text(known))

        self.state.offsets.update_sink_meta(self.spec.name, "schema", union)
        return added

    def csv_header(self) -> list[str] | None:
        raw = self.state.offsets.sink_meta(self.spec.name).get(CSV_HEADER)
        return None if raw is None else list(json.loads(raw))

    def record_csv_header(self, names: list[str]) -> list[str]:
        value = self.state.offsets.update_sink_meta(self.spec.name, CSV_HEADER,
                                                    lambda current: current or json.dumps(names))
        return list(json.loads(value))

    def commit(
        self, name: str, rows: pa.Table, dead: pa.Table, start: dict[str, int], expected: dict[str, int | None],
        position: dict[str, int],
    ) -> int | None:
        staged = self.publisher.stage(name, attempt=1)
        self.publisher.put(staged, FileWindow(rows, dead, expected, position, start))
        try:
            self.publisher.publish(staged)
        except OffsetConflictError as exc:
            self.publisher.discard(staged)
            raise fenced(self.spec.name, exc) from None
        return None

    def recover(self) -> None:
        """Roll committed windows forward; delete what runs of this worker that no longer run left staged."""
        running = self.state.list_runs(workflow_id=f"stream:{self.spec.name}", status=Status.RUNNING, limit=1000)
        self.publisher.recover({r.run_id for r in running})

    def maintenance_due(self, windows: int) -> bool:
        """Never: each window writes one file per partition folder (size them with the window's bounds)."""
        return False

    def maintain(self) -> bool:
        return False


def arrow_schema(columns: Mapping[str, str]) -> pa.Schema:
    """The Arrow schema of Spark-typed columns (`bigint`, `timestamp`, `struct<a:int>`), as DuckDB maps them."""
    import duckdb
    from sqlglot import exp

    projections = [exp.cast(exp.null(), exp.DataType.build(kind, dialect="spark")).as_(exp.to_identifier(name, quoted=True))
                   for name, kind in columns.items()]
    with duckdb.connect() as con:
        schema = con.execute(exp.select(*projections).sql("duckdb")).arrow().schema
    return pa.schema([pa.field(f.name, pa.timestamp(f.type.unit, "UTC") if pa.types.is_timestamp(f.type) and f.type.tz
                               else f.type) for f in schema])


def _text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
