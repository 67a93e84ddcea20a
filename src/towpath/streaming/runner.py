"""Run a stream job: read the owned partitions from the table's offsets, window, decode, commit, repeat.

Each window is one `StreamWindowPublisher` commit (rows + dead letters +
offsets). The offsets a run starts from are read from the table, never from
the consumer group. A window closes on its duration, its row bound or its
byte bound, whichever comes first, so memory is bounded by the window
(plus librdkafka's prefetch queue, capped at `min(32 MiB, max_bytes)`). Messages
are kept as Arrow columns (`towpath.streaming.messages`), never as the client's
per-message objects. The sink is an Iceberg table or a files sink
(`towpath.streaming.sinks`); either commits a window with its offsets atomically.

Stopping: `timeout` (or `--timeout`), SIGTERM/SIGINT and `until_caught_up`
all flush the current window, commit it and return normally.
"""

from __future__ import annotations

import datetime as dt
import gc
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

from towpath.catalog import Catalog
from towpath.config.params import parse_duration
from towpath.notify import Notifier
from towpath.state import AlertFiring, StateStore
from towpath.status import Status
from towpath.streaming import alerts as alert_rules
from towpath.streaming import messages
from towpath.streaming import schema as table_schema
from towpath.streaming.client import (
    Partition,
    Worker,
    client_config,
    first_message,
    kafka,
    start_offsets,
    topic_partitions,
)
from towpath.streaming.decoder import csv_header, decode, missing_required
from towpath.streaming.errors import KafkaError, StreamError, StreamFencedError
from towpath.streaming.sinks import DEAD_LETTER_SCHEMA, Sink, open_sink
from towpath.streaming.spec import CsvFormat, JsonFormat, StreamSpec

log = logging.getLogger("towpath.stream")
CONSUME_BATCH = 10_000
POLL_S = 0.2
KAFKA_TIMESTAMP = "kafka_timestamp"


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
        self.sink: Sink = open_sink(spec, root, catalog, state)
        self._csv: CsvFormat | None = None
        """The CSV format with its header resolved (`header: first_message`), once known."""
        self._header_lines: list[bytes] = []
        self._header_from: Partition | None = None
        """The partition whose earliest message is the CSV header (the first of all the job's partitions)."""
        self._stop = threading.Event()
        self._stop_reason = "signal"
        self._duckdb: Any = None
        self._consumer: Any = None
        self._maintainer: ThreadPoolExecutor | None = None
        self._maintenance: Future[None] | None = None

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
            partitions = topic_partitions(consumer, self.spec.source)
            owned = options.worker.owns(partitions)
            if not owned:
                raise StreamError(f"worker {options.worker} owns no partition (the topics have fewer partitions)")
            self._header_from = partitions[0]
            self.sink = open_sink(self.spec, self.root, self.catalog, self.state, worker=_worker_key(owned), run=run_id)
            self.sink.recover()
            recorded = self.sink.position()
            fresh = [p for p in owned if p.key not in recorded]
            starts = {p: int(recorded[p.key]) for p in owned if p.key in recorded}
            starts.update(start_offsets(consumer, fresh, self.spec.source.start) if fresh else {})
            expected: dict[str, int | None] = {p.key: recorded.get(p.key) for p in owned}
            stats.positions = {p.key: starts[p] for p in owned}
            consumer.assign([TopicPartition(p.topic, p.partition, starts[p]) for p in owned])
            # the interpreter's ~300k long-lived objects (pyiceberg, pyarrow, DuckDB) would otherwise be walked by
            # every full collection the loop's allocations trigger (measured: 3x consume's CPU); unfrozen at the end
            gc.freeze()
            try:
                self._loop(consumer, options, stats, expected, owned)
            finally:
                gc.unfreeze()
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
        message_error = kafka().Message.error
        timeout = options.timeout_s
        if timeout is None and self.spec.timeout:
            timeout = parse_duration(self.spec.timeout).total_seconds()
        deadline = time.monotonic() + timeout if timeout else None
        eof: dict[str, int] = {}
        topics = {p.topic for p in owned}
        topic = next(iter(topics)) if len(topics) == 1 else None
        read_to = dict(stats.positions)
        buffer = messages.WindowBuffer(topic)
        window_end = time.monotonic() + window.seconds
        last_report = 0.0
        pending: Future[None] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="towpath-window-commit") as committer, \
                ThreadPoolExecutor(1, thread_name_prefix="towpath-compaction") as self._maintainer:
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self.stop("timeout")
                wait = max(0.0, min(POLL_S, window_end - now))
                batch = consumer.consume(num_messages=min(CONSUME_BATCH, window.max_rows - buffer.count), timeout=wait)
                good = batch
                if any(map(message_error, batch)):  # partition ends and client errors come as messages too
                    good = [m for m in batch if m.error() is None]
                    _client_events(batch, eof)
                if good:  # kept as Arrow columns: no Message object outlives this iteration
                    buffer.add(good)
                del batch, good
                # librdkafka reports a partition's end once everything before it was delivered: all ends = caught up
                caught_up = options.until_caught_up and len(eof) == len(owned)
                stopping = self._stop.is_set() or caught_up
                full = buffer.count >= window.max_rows or buffer.size >= window.max_bytes
                if buffer and (full or stopping or time.monotonic() >= window_end):
                    position = _consumed_to(consumer, owned, read_to)
                    if pending is not None:
                        pending.result()  # the previous window is visible (or this raises its error)
                    start = {key: read_to[key] for key in position}
                    window_expected = {key: expected[key] for key in position}
                    pending = committer.submit(self.commit_window, buffer.table(), start, window_expected, position,
                                               stats, expected, lines=buffer.lines())
                    read_to.update(position)
                    buffer = messages.WindowBuffer(topic)
                if not buffer:  # a window's clock starts with its first message
                    window_end = time.monotonic() + window.seconds
                if options.progress and (time.monotonic() - last_report > 0.5 or stopping):
                    stats.ends.update({k: max(v, stats.ends.get(k, 0)) for k, v in eof.items()})
                    options.progress(stats)
                    last_report = time.monotonic()
                if stopping:
                    if pending is not None:
                        pending.result()
                    self._maintenance_done()
                    stats.ends.update({k: max(v, stats.ends.get(k, 0)) for k, v in eof.items()})
                    stats.stopped = "caught-up" if caught_up and not self._stop.is_set() else self._stop_reason
                    stats.finished = time.monotonic()
                    return

    # -- one window (in the committer thread) ---------------------------------------------------------

    def commit_window(
        self, window: pa.Table, start: dict[str, int], expected_now: dict[str, int | None], position: dict[str, int],
        stats: StreamStats, expected: dict[str, int | None], *, lines: bytes | None = None,
    ) -> None:
        """Decode one window of messages (`towpath.streaming.message_table`), commit it to the sink with its
        offsets (`start` -> `position`, conditional on `expected_now`), fire alerts, compact when due.
        `lines`: the window's values one per line, when the reader joined them already (`WindowBuffer.lines`).

        The run loop calls this in its committer thread; `bench_stream_throughput` calls it on messages fetched
        beforehand, to measure what this path alone allows.
        """
        rows, dead = self._rows(window, lines)
        snapshot_id = self.sink.commit(f"window-{stats.windows + 1}", rows, dead, start, expected_now, position)
        expected.update(position)
        stats.positions.update(position)
        stats.windows += 1
        stats.rows += rows.num_rows
        stats.dead_letters += dead.num_rows
        stats.messages += window.num_rows
        ranges = {key: [start[key], end] for key, end in position.items()}
        self._after_commit(position, ranges, rows, snapshot_id, stats)
        pa.default_memory_pool().release_unused()  # the allocator keeps freed decode/write buffers otherwise

    def _rows(self, window: pa.Table, lines: bytes | None = None) -> tuple[pa.Table, pa.Table]:
        """Decode, add Kafka columns, transform, check required columns, evolve the table: (rows, dead letters)."""
        spec = self.spec
        fmt = self._format()
        values = window.column("value")
        if isinstance(spec.format, CsvFormat) and spec.format.header == "first_message":
            # the header message itself, and header lines repeated by producers, are not data
            header = pc.fill_null(pc.is_in(values, pa.array(self._header_lines, pa.binary())), False)
            if pc.any(header).as_py():
                window = window.filter(pc.invert(header))
                values, lines = window.column("value"), None
        if not self.sink.exists():
            self._create_tables(values, fmt)
        incoming = None
        if spec.transform is None:  # messages map onto the table's columns: decode with its types
            schema = self.sink.schema()
            incoming = pa.schema([f for f in schema if f.name not in self._derived_columns()])
        decoded = decode(values, fmt, incoming, lines=lines)
        rows, index = decoded.rows, decoded.index
        bad: list[tuple[int, str]] = list(decoded.errors)
        rows = self._kafka_columns(rows, index, window)
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
        known = {name.lower() for name in self.sink.schema().names}
        new = [name for name in rows.column_names if name.lower() not in known]
        if new and rows.num_rows:  # only new fields need their types recognised; known ones have the table's
            recognised = table_schema.recognise(rows.select(new))
            for name in new:
                rows = rows.set_column(rows.column_names.index(name), name, recognised.column(name))
        added = self.sink.add_columns(rows) if new and rows.num_rows else []
        if added:
            log.info("stream %s: added column(s) %s to %s", spec.name, ", ".join(added), self.sink.target)
        dead = self._dead_letters(sorted(bad), window)
        return rows, dead

    def _format(self) -> JsonFormat | CsvFormat:
        """The message format, a CSV header taken from the first message resolved (read once, then recorded)."""
        fmt = self.spec.format
        if not isinstance(fmt, CsvFormat) or fmt.header != "first_message":
            return fmt
        if self._csv is None:
            names = self.sink.csv_header()
            if names is None:
                assert self._header_from is not None
                line = first_message(self.spec, self.root, self._header_from)
                if line is None:
                    raise StreamError(f"stream '{self.spec.name}': header: first_message, but partition "
                                      f"{self._header_from.key} holds no message to take the header from")
                self._header_lines.append(line)
                names = self.sink.record_csv_header(csv_header(line, fmt.delimiter))
            self._csv = fmt.with_columns(names)
            self._header_lines.append(fmt.delimiter.join(names).encode())
        return self._csv

    def _derived_columns(self) -> set[str]:
        names = set()
        if self.spec.event_time == KAFKA_TIMESTAMP:
            names.add(KAFKA_TIMESTAMP)
        if self.spec.key_column:
            names.add(self.spec.key_column)
        return names

    def _kafka_columns(self, rows: pa.Table, index: pa.Array, window: pa.Table) -> pa.Table:
        if self.spec.event_time == KAFKA_TIMESTAMP:
            rows = rows.append_column(KAFKA_TIMESTAMP, messages.stamps(window.column("timestamp").take(index)))
        if self.spec.key_column:
            rows = rows.append_column(self.spec.key_column, window.column("key").take(index).cast(pa.string()))
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

    def _create_tables(self, values: pa.ChunkedArray, fmt: JsonFormat | CsvFormat) -> None:
        """Create the target from the explicit columns or the first `detect_messages` messages, and the DLQ."""
        spec = self.spec
        if isinstance(spec.schema_, list):
            columns = {c.name: c.type for c in spec.schema_}
            if spec.event_time == KAFKA_TIMESTAMP:
                columns[KAFKA_TIMESTAMP] = "timestamp"
            if spec.key_column:
                columns[spec.key_column] = "string"
            self.sink.create_from_columns(columns)
        else:
            sample = decode(values[: spec.detect_messages], fmt, None)
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
            self.sink.create(rows.schema)

    def _dead_letters(self, bad: list[tuple[int, str]], window: pa.Table) -> pa.Table:
        if not bad:
            return DEAD_LETTER_SCHEMA.empty_table()
        taken = window.take(pa.array([i for i, _ in bad], pa.int32()))
        return pa.table({
            "topic": taken.column("topic").cast(pa.string()), "partition": taken.column("partition"),
            "offset": taken.column("offset"),
            "timestamp": messages.stamps(taken.column("timestamp")), "key": taken.column("key"),
            "raw": taken.column("value"), "error": pa.array([reason for _, reason in bad], pa.string()),
            "stream": pa.array([self.spec.name] * len(bad), pa.string()),
        }, schema=DEAD_LETTER_SCHEMA)

    # -- after a commit: monitoring offsets, the ledger, alerts, compaction ---------------------------

    def _after_commit(
        self, position: dict[str, int], ranges: dict[str, list[int]], rows: pa.Table, snapshot_id: int | None,
        stats: StreamStats,
    ) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        parsed = {Partition.parse(k): v for k, v in position.items()}
        try:  # for monitoring tools only: the job itself reads its offsets from the sink
            if self._consumer is not None:
                self._consumer.commit(offsets=[TopicPartition(p.topic, p.partition, v) for p, v in parsed.items()],
                                      asynchronous=True)
        except KafkaException as exc:
            log.warning("stream %s: could not mirror offsets to the consumer group: %s", self.spec.name, exc)
        if self.spec.alerts and rows.num_rows:
            self._alerts(rows, snapshot_id, ranges, stats)
        if self.sink.maintenance_due(stats.windows) and self._maintenance_done(wait=False):
            # beside the next windows, not before them: a window's commit (an append) and compaction's rewrite
            # race only on the catalog pointer, and compaction's retry re-uses the files it already rewrote
            if self._maintainer is None:  # a window committed outside the run loop
                self._maintain(stats)
            else:
                self._maintenance = self._maintainer.submit(self._maintain, stats)

    def _maintain(self, stats: StreamStats) -> None:
        if self.sink.maintain():
            stats.compactions += 1

    def _maintenance_done(self, *, wait: bool = True) -> bool:
        """Whether no compaction is running (raising the last one's error); `wait`: wait for it first."""
        running = self._maintenance
        if running is None:
            return True
        if not wait and not running.done():
            return False
        self._maintenance = None
        running.result()
        return True

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


def _worker_key(owned: list[Partition]) -> str:
    """A short name for the partitions a worker owns (a files sink's staging folder)."""
    import hashlib

    return hashlib.sha256(",".join(p.key for p in owned).encode()).hexdigest()[:12]
