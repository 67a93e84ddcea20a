"""`stream status` and `stream reset`: read and move the offsets a stream recorded in its sink.

Status compares, per partition, the offset the table records (what is
visible) with the broker's end offset, and derives the last commit time and
the rate from the table's snapshot history: nothing but the table and the
broker is needed, so it is true whichever worker (or host) wrote.
Reset is a position commit with no rows, conditional like every other, and
refused while a worker of the stream runs. A files sink keeps its offsets (and
their commit times) in the state store, so status reads them from there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from towpath.catalog import Catalog, commit_with_position, snapshot_position
from towpath.state import RunRecord, StateStore
from towpath.status import Status
from towpath.streaming.client import (
    Partition,
    client_config,
    end_offsets,
    kafka,
    start_offsets,
    topic_partitions,
)
from towpath.streaming.errors import StreamError
from towpath.streaming.sinks import FileSink, Sink, open_sink
from towpath.streaming.spec import StreamSpec

HISTORY = 20
"""Position snapshots the rate is computed over."""


@dataclass(frozen=True)
class PartitionStatus:
    topic: str
    partition: int
    committed: int | None
    """The next offset the sink has not got yet (None: never committed)."""
    end: int
    lag: int
    last_commit: str | None
    rows_per_s: float | None
    dead_letters: int


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    table: str
    """The sink: the table, or the files sink's path."""
    partitions: list[PartitionStatus]
    workers: list[RunRecord]
    """Runs of this stream that are running now."""

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


def running_workers(state: StateStore, stream: str) -> list[RunRecord]:
    return state.list_runs(workflow_id=f"stream:{stream}", status=Status.RUNNING, limit=100)


def stream_status(spec: StreamSpec, root: Path, catalog: Catalog, state: StateStore) -> StreamStatus:
    consumer = kafka().Consumer(client_config(spec, root))
    try:
        partitions = topic_partitions(consumer, spec.source)
        ends = end_offsets(consumer, partitions)
    finally:
        consumer.close()
    sink = open_sink(spec, root, catalog, state)
    table = spec.sink.table
    exists = sink.exists() or bool(sink.position())
    recorded = sink.position() if exists else {}
    if table is not None:
        history = _history(catalog, table, spec.name) if exists else []
        dead = _dead_letters(catalog, spec) if exists else {}
        ledger: dict[str, str] = {}
    else:
        history, dead = [], _dead_letter_files(sink) if exists else {}
        ledger = {f"{o.topic}/{o.partition}": o.committed_at for o in state.offsets.of_stream(spec.name)}
    out = []
    for p in partitions:
        committed = recorded.get(p.key)
        last, rate = _last_commit_and_rate(history, p.key) if table is not None else (ledger.get(p.key), None)
        end = max(ends[p], committed or 0)
        out.append(PartitionStatus(
            p.topic, p.partition, committed, end, end - (committed or 0) if committed is not None else end,
            last, rate, dead.get(p.key, 0),
        ))
    return StreamStatus(spec.name, sink.target, out, running_workers(state, spec.name))


def _history(catalog: Catalog, table: str, source: str) -> list[tuple[int, dict[str, Any]]]:
    """(timestamp ms, position) of main's newest snapshots that record `source`, newest first."""
    loaded = catalog.table(table)
    out: list[tuple[int, dict[str, Any]]] = []
    snapshot = loaded.snapshot_by_name("main")
    while snapshot is not None and len(out) < HISTORY:
        position = snapshot_position(snapshot, source)
        if position is not None:
            out.append((snapshot.timestamp_ms, position))
        parent = snapshot.parent_snapshot_id
        snapshot = loaded.metadata.snapshot_by_id(parent) if parent is not None else None
    return out


def _last_commit_and_rate(history: list[tuple[int, dict[str, Any]]], key: str) -> tuple[str | None, float | None]:
    moves = [(ts, pos[key]) for ts, pos in history if key in pos]
    if not moves:
        return None, None
    newest_ts, newest = moves[0]
    changed = newest_ts
    for ts, value in moves[1:]:
        if value != newest:
            break
        changed = ts
    oldest_ts, oldest = moves[-1]
    rate = (newest - oldest) / ((newest_ts - oldest_ts) / 1000) if newest_ts > oldest_ts else None
    return dt.datetime.fromtimestamp(changed / 1000, dt.UTC).isoformat(timespec="seconds"), rate


def _dead_letters(catalog: Catalog, spec: StreamSpec) -> dict[str, int]:
    if not catalog.exists(spec.sink.dead_letter_table):
        return {}
    return _count_dead(catalog.read(spec.sink.dead_letter_table), spec.name)


def _dead_letter_files(sink: Sink) -> dict[str, int]:
    import pyarrow.dataset as ds

    assert isinstance(sink, FileSink)
    folder = sink.dead
    try:
        rows = ds.dataset(folder.root, filesystem=folder.fs, format="parquet").to_table(
            columns=["stream", "topic", "partition"])
    except (FileNotFoundError, pa.ArrowInvalid):
        return {}
    return _count_dead(rows, sink.spec.name)


def _count_dead(rows: pa.Table, stream: str) -> dict[str, int]:
    rows = rows.select(["stream", "topic", "partition"])
    rows = rows.filter(pc.equal(rows.column("stream"), stream))
    counts = rows.group_by(["topic", "partition"]).aggregate([("stream", "count")])
    return {
        f"{t}/{p}": n for t, p, n in zip(counts["topic"].to_pylist(), counts["partition"].to_pylist(),
                                         counts["stream_count"].to_pylist(), strict=True)
    }


@dataclass(frozen=True)
class ResetResult:
    stream: str
    before: dict[str, Any]
    after: dict[str, int]


def reset_stream(spec: StreamSpec, root: Path, catalog: Catalog, state: StateStore, to: str) -> ResetResult:
    """Move every partition's recorded offset to `to` (`earliest`, `latest`, an ISO timestamp).

    Raises:
        StreamError: a worker of the stream is running, `to` is not a position, or the table does not exist.
    """
    from towpath.streaming.spec import SourceConfig

    running = running_workers(state, spec.name)
    if running:
        where = ", ".join(f"pid {r.pid} on {r.host} (run {r.run_id})" for r in running)
        raise StreamError(f"stream '{spec.name}' has a running worker ({where}); stop it before resetting")
    try:
        SourceConfig(bootstrap_servers="x", topics=["x"], start=to)
    except ValueError:
        raise StreamError(f"--to expects earliest, latest or an ISO timestamp, got '{to}'") from None
    sink = open_sink(spec, root, catalog, state)
    before = sink.position()
    if not before:
        raise StreamError(f"stream '{spec.name}' has committed nothing yet to {sink.target}; "
                          f"the job's `start` ({spec.source.start}) applies")
    consumer = kafka().Consumer(client_config(spec, root))
    try:
        partitions = topic_partitions(consumer, spec.source)
        target = start_offsets(consumer, partitions, to)
    finally:
        consumer.close()
    after = {p.key: offset for p, offset in target.items()}
    if to == "latest":  # a broker's reported end can trail what was read (Tansu, by a batch): never move back
        after = {key: max(offset, int(before.get(key, offset))) for key, offset in after.items()}
    offsets = {Partition.parse(k).tp: v for k, v in after.items()}
    if spec.sink.table is None:  # the state store is the record
        state.offsets.commit_window(spec.name, expected={Partition.parse(k).tp: before.get(k) for k in after},
                                    offsets=offsets)
        return ResetResult(spec.name, before, after)
    commit_with_position(
        catalog, spec.sink.table, pa.table({}), source=spec.name, expected={k: before.get(k) for k in after},
        position=after, properties={"towpath.stream.reset": to},
    )
    # the state store's mirror moves too (the next window's mirror commit would otherwise refuse to go back)
    mirrored = {(o.topic, o.partition): o.next_offset for o in state.offsets.of_stream(spec.name)}
    state.offsets.commit_window(spec.name, expected={tp: mirrored.get(tp) for tp in offsets}, offsets=offsets)
    return ResetResult(spec.name, before, after)


