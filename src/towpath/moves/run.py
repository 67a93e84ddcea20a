"""One move: pin the source, validate, write a new version, audit it, swap the alias.

1. The alias's interrupted versions are recovered (their partial namespaces
   dropped) and the source is pinned (`source.py`).
2. Everything checkable is checked before anything is created (`validate.py`):
   columns, types, null and duplicate keys. `--dry-run` stops here and shows the
   schema and what would be written.
3. `KvAliasPublisher.stage` records version N and creates `<alias>_<stamp>`.
   Batches stream from the source, are encoded column by column
   (`towpath.protobuf.Encoder`) and written by a writer thread, so encoding the
   next batch overlaps the store's I/O for the previous one. With
   `engine: spark` the executors encode and write instead (`spark.py`).
4. The version is audited where it lies (`audits.py`): row count, keys and
   values decode, and the audits the job lists. A failure keeps the version
   for inspection and leaves the alias where it was.
5. `publish` swaps the alias atomically; retention then drops versions beyond
   `keep_versions` (never the current or previous one).
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from towpath.errors import TowpathError
from towpath.moves.audits import AuditOutcome, Sampler, audit_version
from towpath.moves.source import MoveSource, open_source
from towpath.moves.spec import MoveSpec
from towpath.moves.validate import validate
from towpath.moves.versions import MoveError, apply_retention, current_version, recover
from towpath.protobuf import Encoder, FieldNumbers, ProtoSchema, write_proto
from towpath.status import Status

if TYPE_CHECKING:
    from towpath.catalog import Catalog
    from towpath.config.project import EngineConfig
    from towpath.engines import Engine
    from towpath.kv import KvStore
    from towpath.state import StateStore

Progress = Callable[[int, int | None], None]
WRITERS = 2
"""Writer threads of a move whose keys are unique (see `write_batches`)."""
"""Called with (rows written so far, rows expected) after every batch."""


class MoveAuditError(MoveError):
    """The new version failed an audit: it is kept for inspection and readers stay on the previous one."""


@dataclass
class MoveResult:
    alias: str
    status: str
    """`published`, `dry_run` or `failed`."""
    version: int | None
    namespace: str | None
    rows: int
    keys: int
    seconds: float
    source: dict[str, Any]
    audits: list[AuditOutcome] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    """Partial namespaces of interrupted moves dropped first."""
    dropped: list[str] = field(default_factory=list)
    """Old versions dropped by retention."""
    proto_files: list[str] = field(default_factory=list)
    proto: str = ""
    previous: int | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "audits"}
        out["audits"] = [a.to_json() for a in self.audits]
        out["rows_per_s"] = round(self.rows_per_s)
        return out


@dataclass(frozen=True)
class MoveWorkspace:
    """What a move needs from its project: the catalog, the state room, the folder, an engine for SQL sources."""

    catalog: Catalog
    state: StateStore
    root: Path
    engine: Callable[[], Engine]
    """Opens the engine a SQL source runs on (called only for one)."""
    run_id: str | None = None
    """The run the move belongs to (a workflow's); None: the move records a run of its own."""
    engine_config: EngineConfig | None = None
    """The project's engine settings (Spark's conf for `engine: spark`)."""


def open_kv_token(spec: MoveSpec) -> str | None:
    """The KV service's write token: the move file's, else `$TOWPATH_KV_TOKEN`."""
    return spec.key_value_dal.token or os.environ.get("TOWPATH_KV_TOKEN")


def open_kv(spec: MoveSpec, root: Path) -> KvStore:
    from towpath.kv import open_store

    return open_store(spec.key_value_dal.url, open_kv_token(spec), root=root)


def run_move(spec: MoveSpec, ws: MoveWorkspace, *, dry_run: bool = False, progress: Progress | None = None) -> MoveResult:
    """Move the spec's source into a new version of its alias (see the module docstring).

    Raises:
        SpecError: a validation failure (file:line, offending keys); nothing was created.
        MoveAuditError: the version failed an audit (kept; the alias did not move).
        MoveError: another move of the alias is running.
    """
    from towpath.kv import returning_memory

    started = time.perf_counter()
    store = open_kv(spec, ws.root)
    own_run = ws.run_id
    try:
        if own_run is None and not dry_run:
            own_run = ws.state.start_run(f"move:{spec.alias}", kind="move")
        try:
            with returning_memory():  # batches stream through: freed Arrow memory goes back at once
                result = _run(spec, ws, store, own_run, dry_run, progress, started)
        except BaseException as exc:
            if own_run is not None and ws.run_id is None:
                ws.state.finish_run(own_run, Status.FAILED, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        if own_run is not None and ws.run_id is None:
            ws.state.finish_run(own_run, Status.SUCCESS)
        return result
    finally:
        store.close()


def _run(
    spec: MoveSpec, ws: MoveWorkspace, store: KvStore, own_run: str | None, dry_run: bool,
    progress: Progress | None, started: float,
) -> MoveResult:
    from towpath.publish.kv_alias import KvAliasPublisher

    alias = spec.alias
    recovered = recover(store, ws.state, alias, own_run=own_run)
    engine = ws.engine() if spec.data_movement.source.sql is not None else None
    source = open_source(spec, ws.catalog, engine)
    checked = validate(spec, source, _previous_numbers(ws.state, alias))
    proto = checked.proto
    previous = current_version(store, ws.state, alias)
    result = MoveResult(
        alias=alias, status="dry_run", version=None, namespace=None, rows=checked.rows, keys=checked.keys,
        seconds=0.0, source=source.origin, recovered=recovered, proto=proto.to_proto(),
        previous=previous.version if previous else None,
    )
    if dry_run:
        result.seconds = time.perf_counter() - started
        return result
    folder = spec.output_folder()
    if folder is not None:
        result.proto_files = [str(p) for p in write_proto(proto, folder)]
    publisher = KvAliasPublisher(store, ws.state, alias, run_id=own_run)
    staged = publisher.stage(_version_name(alias, store, ws.state), attempt=1, details={
        "source": source.origin, "proto": proto.to_json(), "source_rows": checked.rows, "expected_keys": checked.keys,
    })
    result.version, result.namespace = publisher.version(staged).version, staged.name
    sampler = Sampler(spec, proto, checked.rows)
    try:
        if spec.data_movement.engine == "spark":
            from towpath.config.project import EngineConfig
            from towpath.moves.spark import write_with_spark

            written = write_with_spark(spec, source, proto, staged.name, ws.root, ws.engine_config or EngineConfig(),
                                       ws.catalog, progress, sampler)
        else:
            writers = WRITERS if spec.data_movement.on_duplicate == "error" else 1
            written = write_batches(store, staged.name, proto, _batches(spec, source, proto), progress,
                                    expected=checked.rows, sampler=sampler, writers=writers)
    except BaseException as exc:
        publisher.discard(staged, reason=f"write failed: {exc}")
        raise
    result.audits = audit_version(spec, store, staged.name, proto, checked, sampler)
    failed = [a for a in result.audits if a.status != "passed"]
    details = {"audits": [a.to_json() for a in result.audits], "written_rows": written}
    if failed:
        reason = "; ".join(f"{a.name}: {a.detail}" for a in failed)
        publisher.keep(staged, reason)
        ws.state.kv.set_status(alias, result.version, "error", details={
            **ws.state.kv.version(alias, result.version).details, **details})
        raise MoveAuditError(
            f"{alias} v{result.version} ({staged.name}) failed its audits, readers stay on "
            f"{'v' + str(result.previous) if result.previous else 'nothing'}: {reason}"
        )
    publisher.publish(staged, rows=checked.keys, details=details)
    result.status = "published"
    result.dropped = apply_retention(store, ws.state, alias, spec.key_value_dal.keep_versions)
    result.seconds = time.perf_counter() - started
    return result


def _previous_numbers(state: StateStore, alias: str) -> FieldNumbers | None:
    """The field numbers of the alias's latest version that recorded a schema (any status)."""
    for version in reversed(state.kv.versions(alias)):
        proto = version.details.get("proto")
        if proto:
            return FieldNumbers(proto["field_numbers"])
    return None


def _version_name(alias: str, store: KvStore, state: StateStore) -> str:
    """`<alias>_<YYYYMMDDhhmmss>` (UTC); the next free second if a version (even a dropped one) used this one."""
    from towpath.moves.versions import namespace_of

    existing = set(store.namespaces()) | {namespace_of(v) for v in state.kv.versions(alias)}
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    while True:
        name = f"{alias}_{moment:%Y%m%d%H%M%S}"
        if name not in existing:
            return name
        moment += dt.timedelta(seconds=1)


def _batches(spec: MoveSpec, source: MoveSource, proto: ProtoSchema) -> Iterator[pa.RecordBatch]:
    columns = [f.arrow.name for f in proto.key.fields] + [f.arrow.name for f in proto.value.fields]
    yield from source.batches(columns, spec.key_value_dal.batch_size)


_DONE = object()


def write_batches(
    store: KvStore, namespace: str, proto: ProtoSchema, batches: Iterator[pa.RecordBatch],
    progress: Progress | None = None, *, expected: int | None = None, sampler: Sampler | None = None,
    writers: int = 1,
) -> int:
    """Encode each batch here and hand it to `writers` threads (encoding overlaps the store's I/O); returns rows written.

    Several writers keep the store busy while one waits for its replies, but
    reorder batches: only for unique keys (with `on_duplicate: last` the order
    decides which row wins, so that move writes with one).
    """
    encoder = Encoder(proto)
    streaming = hasattr(store, "put_batches")
    pending: queue.Queue[Any] = queue.Queue(maxsize=2 * writers)
    failure: list[BaseException] = []
    lock = threading.Lock()
    written = 0

    def sent(rows: int) -> None:
        nonlocal written
        with lock:
            written += rows
            if progress is not None:
                progress(written, expected)

    def stream() -> Iterator[tuple[pa.BinaryArray, pa.BinaryArray]]:
        while (item := pending.get()) is not _DONE:
            yield item
            sent(len(item[0]))

    def writer() -> None:
        try:
            if streaming:  # the KV service's client: one gRPC stream for every batch of this writer
                store.put_batches(namespace, stream())  # type: ignore[attr-defined]
                return
            while (item := pending.get()) is not _DONE:
                if not failure:
                    store.put_batch(namespace, *item)
                    sent(len(item[0]))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)
            while pending.get() is not _DONE:  # let the producer finish and stop
                pass

    threads = [threading.Thread(target=writer, name=f"towpath-move-writer-{i}", daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    try:
        for batch in batches:
            if failure:
                break
            keys = encoder.encode_keys(batch)
            if sampler is not None:
                sampler.observe(batch, keys)
            pending.put((keys, encoder.encode_values(batch)))
    finally:
        for _ in threads:
            pending.put(_DONE)
        for thread in threads:
            thread.join()
    if failure:
        error = failure[0]
        if isinstance(error, TowpathError):
            raise error
        raise MoveError(f"writing {namespace} failed: {error}") from error
    return written
