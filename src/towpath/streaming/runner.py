"""Run a stream job: read the owned partitions from the table's offsets, window, decode, commit, repeat.

Each window is one `StreamWindowPublisher` commit (rows + dead letters +
offsets). The offsets a run starts from are read from the table, never from
the consumer group. A window closes on its duration, its row bound or its
byte bound, whichever comes first, so memory is bounded by the window
(plus librdkafka's prefetch queue, capped at one window's bytes).

Stopping: `timeout` (or `--timeout`), SIGTERM/SIGINT and `until_caught_up`
all flush the current window, commit it and return normally.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from towpath.catalog import Catalog, compact, read_position
from towpath.config.params import parse_duration
from towpath.notify import Notifier
from towpath.publish import StreamWindowPublisher, WindowData
from towpath.state import AlertFiring, StateStore
from towpath.status import Status
from towpath.streaming import alerts as alert_rules
from towpath.streaming import schema as table_schema
from towpath.streaming.client import (
    Partition,
    Worker,
    client_config,
    kafka,
    start_offsets,
    topic_partitions,
)
from towpath.streaming.decoder import decode, missing_required
from towpath.streaming.errors import KafkaError, StreamError, StreamFencedError
from towpath.streaming.spec import StreamSpec

log = logging.getLogger("towpath.stream")
CONSUME_BATCH = 10_000
POLL_S = 0.2
KAFKA_TIMESTAMP = "kafka_timestamp"
DEAD_LETTER_SCHEMA = pa.schema([
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("timestamp", pa.timestamp("us", "UTC")), ("key", pa.binary()), ("raw", pa.binary()),
    ("error", pa.string()), ("stream", pa.string()),
])


@dataclass
class StreamStats:
    """What a run did so far (the live status line and the final result)."""

    stream: str
    worker: str
    windows: int = 0
    rows: int = 0
    dead_letters: int = 0
    messages: int = 0
    alerts_fired: int = 0
    compactions: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    positions: dict[str, int] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None
    """Why the run ended: `caught-up`, `timeout`, `signal`."""

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def lag(self) -> int:
        return sum(max(0, end - self.positions.get(key, end)) for key, end in self.ends.items())

    def to_dict(self) -> dict[str, Any]:
        """What `--json` prints (the monotonic clock readings mean nothing outside the process)."""
        return {
            "stream": self.stream, "worker": self.worker, "stopped": self.stopped, "messages": self.messages,
            "rows": self.rows, "dead_letters": self.dead_letters, "windows": self.windows,
            "alerts_fired": self.alerts_fired, "compactions": self.compactions, "elapsed_s": round(self.elapsed_s, 3),
            "msgs_per_s": round(self.rate, 1), "lag": self.lag, "offsets": dict(sorted(self.positions.items())),
        }


@dataclass(frozen=True)
class RunOptions:
    timeout_s: float | None = None
    until_caught_up: bool = False
    worker: Worker = field(default_factory=lambda: Worker(1, 1))
    progress: Callable[[StreamStats], None] | None = None
    handle_signals: bool = True


class StreamJob:
    """One worker of a stream job over a project's catalog and state store."""

    def __init__(
        self, spec: StreamSpec, root: Path, catalog: Catalog, state: StateStore, *, notifier: Notifier | None = None
    ) -> None:
        self.spec, self.root, self.catalog, self.state = spec, root, catalog, state
        self.notifier = notifier
        """The project's notification channels (`notify: project` alerts go there)."""
        self.table = spec.sink.table
        self.dead_letter_table = spec.sink.dead_letter_table
        self.publisher = StreamWindowPublisher(catalog, self.table, self.dead_letter_table, source=spec.name)
        self._stop = threading.Event()
        self._stop_reason = "signal"
        self._duckdb: Any = None
        self._consumer: Any = None

    @property
    def workflow_id(self) -> str:
        """How runs of this stream are recorded in the state store (`stream:<name>`)."""
        return f"stream:{self.spec.name}"

    def stop(self, reason: str = "signal") -> None:
        """Ask the run to flush its window, commit and return (safe from a signal handler or another thread)."""
        self._stop_reason = reason
        self._stop.set()

    def run(self, options: RunOptions | None = None) -> StreamStats:
        """Consume until stopped; returns what was done.

        Raises:
            StreamFencedError: another instance committed offsets of partitions this worker owns.
            StreamError: the broker is unreachable, a topic is missing, the spec cannot be applied.
        """
        kafka_module = kafka()
        Consumer, TopicPartition = kafka_module.Consumer, kafka_module.TopicPartition

        options = options or RunOptions()
        alert_rules.check_predicates(self.spec.alerts)
        for rule in self.spec.alerts:
            alert_rules.channels(rule.notify, self.notifier)  # an unknown target fails before the first message
        consumer = self._consumer = Consumer(client_config(self.spec, self.root))
        stats = StreamStats(self.spec.name, str(options.worker))
        run_id = self.state.start_run(self.workflow_id, kind="stream", params={"worker": str(options.worker)})
        restore = self._install_signals() if options.handle_signals else None
        status, error = Status.SUCCESS, None
        try:
            owned = options.worker.owns(topic_partitions(consumer, self.spec.source))
            if not owned:
                raise StreamError(f"worker {options.worker} owns no partition (the topics have fewer partitions)")
            recorded = read_position(self.catalog, self.table, self.spec.name) if self.catalog.exists(self.table) else {}
            fresh = [p for p in owned if p.key not in recorded]
            starts = {p: int(recorded[p.key]) for p in owned if p.key in recorded}
            starts.update(start_offsets(consumer, fresh, self.spec.source.start) if fresh else {})
            expected: dict[str, int | None] = {p.key: recorded.get(p.key) for p in owned}
            stats.positions = {p.key: starts[p] for p in owned}
            consumer.assign([TopicPartition(p.topic, p.partition, starts[p]) for p in owned])
            self._loop(consumer, options, stats, expected, owned)
        except StreamFencedError as exc:
            status, error = Status.FAILED, str(exc)
            raise
        except BaseException as exc:
            status, error = Status.FAILED, str(exc) or type(exc).__name__
            raise
        finally:
            if restore:
                restore()
            consumer.close()
            self.state.finish_run(run_id, status, error=error)
        return stats

    # -- the loop -----------------------------------------------------------------------------------

    def _loop(
        self, consumer: Any, options: RunOptions, stats: StreamStats, expected: dict[str, int | None],
        owned: list[Partition],
    ) -> None:
        """Consume into the window buffer; a closed window is committed by one background thread while the next
        fills (commits stay in order: a window is handed over only once the one before it is visible)."""
        window = self.spec.window
        timeout = options.timeout_s
        if timeout is None and self.spec.timeout:
            timeout = parse_duration(self.spec.timeout).total_seconds()
        deadline = time.monotonic() + timeout if timeout else None
        eof: dict[str, int] = {}
        read_to = dict(stats.positions)
        buffer: list[Any] = []
        size = 0
        window_end = time.monotonic() + window.seconds
        last_report = 0.0
        pending: Future[None] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="towpath-window-commit") as committer:
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self.stop("timeout")
                wait = max(0.0, min(POLL_S, window_end - now))
                batch = consumer.consume(num_messages=min(CONSUME_BATCH, window.max_rows - len(buffer)), timeout=wait)
                good = [m for m in batch if m.error() is None]
                if len(good) != len(batch):
                    _client_events(batch, eof)
                buffer.extend(good)
                size += sum(map(len, good))
                # librdkafka reports a partition's end once everything before it was delivered: all ends = caught up
                caught_up = options.until_caught_up and len(eof) == len(owned)
                stopping = self._stop.is_set() or caught_up
                full = len(buffer) >= window.max_rows or size >= window.max_bytes
                if buffer and (full or stopping or time.monotonic() >= window_end):
                    position = _consumed_to(consumer, owned, read_to)
                    if pending is not None:
                        pending.result()  # the previous window is visible (or this raises its error)
                    start = {key: read_to[key] for key in position}
                    window_expected = {key: expected[key] for key in position}
                    pending = committer.submit(self._commit, buffer, start, window_expected, position, stats, expected)
                    read_to.update(position)
                    buffer, size = [], 0
                if not buffer:  # a window's clock starts with its first message
                    window_end = time.monotonic() + window.seconds
                if options.progress and (time.monotonic() - last_report > 0.5 or stopping):
                    stats.ends.update({k: max(v, stats.ends.get(k, 0)) for k, v in eof.items()})
                    options.progress(stats)
                    last_report = time.monotonic()
                if stopping:
                    if pending is not None:
                        pending.result()
                    stats.ends.update({k: max(v, stats.ends.get(k, 0)) for k, v in eof.items()})
                    stats.stopped = "caught-up" if caught_up and not self._stop.is_set() else self._stop_reason
                    stats.finished = time.monotonic()
                    return

    # -- one window (in the committer thread) ---------------------------------------------------------

    def _commit(
        self, buffer: list[Any], start: dict[str, int], expected_now: dict[str, int | None], position: dict[str, int],
        stats: StreamStats, expected: dict[str, int | None],
    ) -> None:
        from towpath.catalog import PositionConflictError

        values = [m.value() for m in buffer]
        rows, dead = self._rows(buffer, values)
        staged = self.publisher.stage(f"window-{stats.windows + 1}", attempt=1)
        self.publisher.put(staged, WindowData(rows, dead, expected_now, position))
        try:
            published = self.publisher.publish(staged)
        except PositionConflictError as exc:
            raise StreamFencedError(
                f"stream '{self.spec.name}': {exc} -- stopping; only one worker may own a partition "
                "(check `towpath stream status` and --worker I/N)"
            ) from None
        snapshot_id = published.versions[self.table]
        expected.update(position)
        stats.positions.update(position)
        stats.windows += 1
        stats.rows += rows.num_rows
        stats.dead_letters += dead.num_rows
        stats.messages += len(buffer)
        ranges = {key: [start[key], end] for key, end in position.items()}
        self._after_commit(position, ranges, rows, snapshot_id, stats)

    def _rows(self, buffer: list[Any], values: list[bytes | None]) -> tuple[pa.Table, pa.Table]:
        """Decode, add Kafka columns, transform, check required columns, evolve the table: (rows, dead letters)."""
        spec = self.spec
        if not self.catalog.exists(self.table):
            self._create_tables(values)
        incoming = None
        if spec.transform is None:  # messages map onto the table's columns: decode with its types
            schema = self.catalog.table(self.table).schema().as_arrow()
            incoming = pa.schema([f for f in schema if f.name not in self._derived_columns()])
        decoded = decode(values, spec.format, incoming)
        rows, index = decoded.rows, decoded.index
        bad: list[tuple[int, str]] = list(decoded.errors)
        rows = self._kafka_columns(rows, index, buffer)
        if spec.transform is not None:
            rows = self._transform(rows)
        required = [c.name for c in spec.schema_ if c.required] if isinstance(spec.schema_, list) else []
        if required and rows.num_rows:
            missing = missing_required(rows, required)
            if pc.any(missing).as_py():
                missing_at = pc.indices_nonzero(missing)
                bad_index = pc.take(index, missing_at).to_pylist()
                bad.extend((i, f"a required field ({', '.join(required)}) is missing or null") for i in bad_index)
                keep = pc.invert(missing)
                rows, index = rows.filter(keep), index.filter(keep)
        known = {name.lower() for name in self.catalog.table(self.table).schema().column_names}
        new = [name for name in rows.column_names if name.lower() not in known]
        if new and rows.num_rows:  # only new fields need their types recognised; known ones have the table's
            recognised = table_schema.recognise(rows.select(new))
            for name in new:
                rows = rows.set_column(rows.column_names.index(name), name, recognised.column(name))
        added = table_schema.add_columns(self.catalog, self.table, rows) if new and rows.num_rows else []
        if added:
            log.info("stream %s: added column(s) %s to %s", spec.name, ", ".join(added), self.table)
        dead = self._dead_letters(sorted(bad), buffer, values)
        return rows, dead

    def _derived_columns(self) -> set[str]:
        names = set()
        if self.spec.event_time == KAFKA_TIMESTAMP:
            names.add(KAFKA_TIMESTAMP)
        if self.spec.key_column:
            names.add(self.spec.key_column)
        return names

    def _kafka_columns(self, rows: pa.Table, index: pa.Array, buffer: list[Any]) -> pa.Table:
        if self.spec.event_time == KAFKA_TIMESTAMP:
            stamps = pa.array([m.timestamp()[1] for m in buffer], pa.int64())
            millis = pc.take(stamps, index).cast(pa.timestamp("ms", "UTC")).cast(pa.timestamp("us", "UTC"))
            rows = rows.append_column(KAFKA_TIMESTAMP, millis)
        if self.spec.key_column:
            keys = pa.array([m.key() for m in buffer], pa.binary())
            rows = rows.append_column(self.spec.key_column, pc.take(keys, index).cast(pa.string()))
        return rows

    def _transform(self, rows: pa.Table) -> pa.Table:
        assert self.spec.transform is not None
        con = self._con()
        con.register("window", rows)
        try:
            return con.execute(self.spec.transform.select(rows.column_names)).to_arrow_table()
        finally:
            con.unregister("window")

    def _con(self) -> Any:
        if self._duckdb is None:
            import duckdb

            self._duckdb = duckdb.connect()
        return self._duckdb

    def _create_tables(self, values: list[bytes | None]) -> None:
        """Create the target from the explicit columns or the first `detect_messages` messages, and the DLQ."""
        spec = self.spec
        if isinstance(spec.schema_, list):
            columns = {c.name: c.type for c in spec.schema_}
            if spec.event_time == KAFKA_TIMESTAMP:
                columns[KAFKA_TIMESTAMP] = "timestamp"
            if spec.key_column:
                columns[spec.key_column] = "string"
            table_schema.create_table_from_columns(self.catalog, self.table, columns, spec.sink.partition_by)
        else:
            sample = decode(values[: spec.detect_messages], spec.format, None)
            if not sample.rows.num_columns:
                raise StreamError(
                    f"stream '{spec.name}': cannot detect a schema, none of the first {len(sample.errors)} message(s) "
                    f"decodes as {spec.format.type} ({sample.errors[0][1] if sample.errors else 'no messages'})"
                )
            rows = table_schema.recognise(sample.rows)
            if spec.event_time == KAFKA_TIMESTAMP:
                rows = rows.append_column(KAFKA_TIMESTAMP, pa.nulls(rows.num_rows, pa.timestamp("us", "UTC")))
            if spec.key_column:
                rows = rows.append_column(spec.key_column, pa.nulls(rows.num_rows, pa.string()))
            if spec.transform is not None:
                rows = table_schema.recognise(self._transform(rows))
            table_schema.create_table(self.catalog, self.table, rows.schema, spec.sink.partition_by)
        table_schema.create_table(self.catalog, self.dead_letter_table, DEAD_LETTER_SCHEMA)

    def _dead_letters(self, bad: list[tuple[int, str]], buffer: list[Any], values: list[bytes | None]) -> pa.Table:
        if not bad:
            return DEAD_LETTER_SCHEMA.empty_table()
        messages = [buffer[i] for i, _ in bad]
        stamps = [m.timestamp()[1] for m in messages]
        return pa.table({
            "topic": pa.array([m.topic() for m in messages], pa.string()),
            "partition": pa.array([m.partition() for m in messages], pa.int32()),
            "offset": pa.array([m.offset() for m in messages], pa.int64()),
            "timestamp": pa.array([s if s and s > 0 else None for s in stamps], pa.int64())
            .cast(pa.timestamp("ms", "UTC")).cast(pa.timestamp("us", "UTC")),
            "key": pa.array([buffer[i].key() for i, _ in bad], pa.binary()),
            "raw": pa.array([values[i] for i, _ in bad], pa.binary()),
            "error": pa.array([reason for _, reason in bad], pa.string()),
            "stream": pa.array([self.spec.name] * len(bad), pa.string()),
        }, schema=DEAD_LETTER_SCHEMA)

    # -- after a commit: monitoring offsets, the ledger, alerts, compaction ---------------------------

    def _after_commit(
        self, position: dict[str, int], ranges: dict[str, list[int]], rows: pa.Table, snapshot_id: int | None,
        stats: StreamStats,
    ) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        parsed = {Partition.parse(k): v for k, v in position.items()}
        try:  # for monitoring tools only: the job itself reads its offsets from the table
            self._consumer.commit(offsets=[TopicPartition(p.topic, p.partition, v) for p, v in parsed.items()],
                                  asynchronous=True)
        except KafkaException as exc:
            log.warning("stream %s: could not mirror offsets to the consumer group: %s", self.spec.name, exc)
        self.state.offsets.commit(self.spec.name, {(p.topic, p.partition): v for p, v in parsed.items()},
                                  snapshot_id=snapshot_id)
        if self.spec.alerts and rows.num_rows:
            self._alerts(rows, snapshot_id, ranges, stats)
        if self.spec.compaction.enabled and stats.windows % self.spec.compaction.every == 0:
            result = compact(self.catalog, self.table, expire_older_than=dt.timedelta(0), retain_last=5)
            if result.snapshot_id is not None:
                stats.compactions += 1

    def _alerts(
        self, rows: pa.Table, snapshot_id: int | None, window_offsets: dict[str, list[int]], stats: StreamStats,
    ) -> None:
        for match in alert_rules.evaluate(self._con(), self.spec.alerts, rows):
            message = alert_rules.payload(self.spec.name, match, window_offsets)
            error = alert_rules.deliver(alert_rules.channels(match.rule.notify, self.notifier), message)
            self.state.alerts.record(AlertFiring(
                stream=self.spec.name, alert=match.rule.name, matched=match.matched, offsets=window_offsets,
                snapshot_id=snapshot_id, sample=match.sample, notify=match.rule.notify, delivery_error=error,
                fired_at=dt.datetime.now(dt.UTC).isoformat(),
            ))
            stats.alerts_fired += 1

    def _install_signals(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.stop("signal"))

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


def _client_events(batch: list[Any], eof: dict[str, int]) -> None:
    """The client's events among a batch's messages: partition ends, fatal errors, transient ones (logged)."""
    from confluent_kafka import KafkaError as RdKafkaError

    for message in batch:
        err = message.error()
        if err is None:
            continue
        if err.code() == RdKafkaError._PARTITION_EOF:
            eof[f"{message.topic()}/{message.partition()}"] = message.offset()
        elif err.fatal():
            raise KafkaError(f"Kafka client error: {err.str()}")
        else:  # transient: the client reconnects by itself (a broker restart, a network blip)
            log.warning("kafka: %s", err.str())


def _consumed_to(consumer: Any, owned: list[Partition], read_to: Mapping[str, int]) -> dict[str, int]:
    """The next offset of every owned partition that moved past `read_to`: the client's position after the last
    message it returned (so no per-message bookkeeping on the hot path)."""
    from confluent_kafka import TopicPartition

    positions = consumer.position([TopicPartition(p.topic, p.partition) for p in owned])
    moved = {}
    for p, tp in zip(owned, positions, strict=True):
        if tp.offset >= 0 and tp.offset > read_to[p.key]:
            moved[p.key] = tp.offset
    return moved
