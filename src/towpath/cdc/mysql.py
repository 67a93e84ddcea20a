"""MySQL / MariaDB: the ROW-format binlog read through the `mysql-replication` package.

The handoff: the table is read in `START TRANSACTION WITH CONSISTENT SNAPSHOT`,
and MariaDB reports the binlog file and offset that snapshot is consistent with
(`binlog_snapshot_file`/`_position`), so the stream starts exactly there.

Positions: a transaction is identified by the binlog offset its first event
starts at (the file's number in the high bits), and each row change by its
ordinal inside it, so a restart re-reads the transaction the targets stopped in
and skips the part they have. The binlog is the server's: this job retains
nothing, and a purged file at the targets' position is a lost stream.
Column names come from the binlog itself (`binlog_row_metadata=FULL`, which the
source is switched to when the job's user may), so every row event is read
with the table shape it was written with.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from towpath.cdc.changes import DELETE, INSERT, UPDATE, ChangeBuffer, Position
from towpath.cdc.errors import SchemaChangeError, SlotLostError, SourceError
from towpath.cdc.source import Poll, Snapshot, SourceLag
from towpath.cdc.spec import CdcSpec
from towpath.errors import NotInstalledError

__all__ = ["MysqlCdcSource"]

_HEARTBEAT_S = 0.25
"""How long the binlog may be idle before the server says so (the reader's clock while nothing happens)."""

_FILE_SHIFT = 40
"""A position's commit is `file number << 40 | offset`: binlog files stay far below 2**40 bytes."""


def _modules() -> tuple[Any, Any]:
    try:
        import pymysql
        import pymysqlreplication
    except ImportError:
        raise NotInstalledError("cdc source", "mysql", extra="mysql", missing="mysql-replication") from None
    return pymysql, pymysqlreplication


class MysqlCdcSource:
    """One table of a MySQL/MariaDB database, through its binlog."""

    def __init__(self, spec: CdcSpec) -> None:
        self.spec = spec
        self._pymysql, self._repl = _modules()
        parts = urlsplit(spec.source.url)
        self._settings = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
                          "user": unquote(parts.username or "root"), "passwd": unquote(parts.password or "")}
        db, _, table = spec.source.table.rpartition(".")
        self._db, self._table = db or parts.path.lstrip("/"), table
        self.table = f"{self._db}.{self._table}"
        try:
            self._conn = self._pymysql.connect(host=self._settings["host"], port=self._settings["port"],
                                               user=self._settings["user"], password=self._settings["passwd"],
                                               database=self._db, autocommit=True,
                                               init_command="SET time_zone = '+00:00'")
        except (self._pymysql.MySQLError, OSError) as exc:
            raise SourceError(f"cannot connect to the MySQL source of {spec.name}: {exc}") from None
        self._check_binlog()
        self.schema, self.primary_key = self._describe()
        self._base = str(self._master()[0]).rsplit(".", 1)[0]
        self._reader: Any = None
        self._resume: tuple[str, int] | None = None
        self._txn: int | None = None
        self._seq = 0
        self._skip_to: Position | None = None
        self._at: tuple[str, int] = ("", 0)
        self._pending: Any = None
        self._exhausted = False

    # -- catalog -------------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        except self._pymysql.err.OperationalError as exc:
            raise SourceError(f"the MySQL source of {self.spec.name} failed: {exc}; run again to resume") from None

    def _check_binlog(self) -> None:
        variables = dict(self._rows("SHOW VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', "
                                    "'binlog_row_image', 'binlog_row_metadata')"))
        if variables.get("log_bin") != "ON" or variables.get("binlog_format") != "ROW":
            raise SourceError(f"the MySQL source needs its binary log on in ROW format (log_bin=ON, binlog_format="
                              f"ROW); it has log_bin={variables.get('log_bin')}, "
                              f"binlog_format={variables.get('binlog_format')}")
        if variables.get("binlog_row_image", "FULL") != "FULL":
            raise SourceError("the MySQL source needs binlog_row_image=FULL (updates must carry whole rows)")
        if variables.get("binlog_row_metadata") != "FULL":
            try:
                self._rows("SET GLOBAL binlog_row_metadata = 'FULL'")
            except (self._pymysql.MySQLError, OSError) as exc:
                raise SourceError("the MySQL source needs binlog_row_metadata=FULL (column names in the binlog): "
                                  f"SET GLOBAL binlog_row_metadata = 'FULL' ({exc})") from None

    def _columns(self) -> list[tuple[Any, ...]]:
        return self._rows("SELECT column_name, column_key FROM information_schema.columns "
                          "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                          (self._db, self._table))

    def _describe(self) -> tuple[pa.Schema, list[str]]:
        from towpath.connectors.mysql import arrow_type

        cols = self._columns()
        if not cols:
            raise SourceError(f"{self.spec.file}: source.table: table {self.table} does not exist in the source")
        with self._conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{self._db}`.`{self._table}` LIMIT 0")
            fields = [pa.field(d[0], arrow_type(d) or pa.string(), bool(d[6])) for d in cur.description]
        key = self.spec.source.primary_key or [name for name, kind in cols if kind == "PRI"]
        if not key:
            raise SourceError(f"{self.spec.file}: source.primary_key: table {self.table} has no primary key; "
                              "name the columns to merge on")
        return pa.schema(fields), list(key)

    def _master(self) -> tuple[str, int]:
        rows = self._rows("SHOW MASTER STATUS")
        if not rows:
            raise SourceError("the MySQL source reports no binlog position (SHOW MASTER STATUS is empty)")
        return str(rows[0][0]), int(rows[0][1])

    def _encode(self, file: str, offset: int) -> int:
        return (int(file.rsplit(".", 1)[1]) << _FILE_SHIFT) | offset

    def _decode_file(self, commit: int) -> tuple[str, int]:
        return f"{self._base}.{commit >> _FILE_SHIFT:06d}", commit & ((1 << _FILE_SHIFT) - 1)

    def format(self, position: Position | None) -> str:
        if position is None:
            return "-"
        file, offset = self._decode_file(position.commit)
        return f"{file}:{offset}"

    # -- stream life cycle ---------------------------------------------------------------------

    def stream_exists(self, position: Position | None) -> bool:
        if position is None:
            return False
        file, _ = self._decode_file(position.commit)
        return file in {row[0] for row in self._rows("SHOW BINARY LOGS")}

    def drop_stream(self) -> None:
        """Nothing to drop: the binlog is the server's."""

    def snapshot(self) -> Snapshot:
        from towpath.connectors.mysql import MySqlSource
        from towpath.pipeline import ProcessorContext

        reader = MySqlSource(self.spec.source.url, table=self.table, columns=self.schema.names, batch_size=100_000)
        reader.consistent_snapshot = True
        reader.open(ProcessorContext(name=f"cdc:{self.spec.name}:snapshot"))
        batches = reader.read()
        first = next(batches, None)  # runs START TRANSACTION WITH CONSISTENT SNAPSHOT and notes the position
        if reader.binlog_position is None:
            reader.close(None)
            raise SourceError("the MySQL source did not report the binlog position of its consistent snapshot "
                              "(binlog_snapshot_file): change data capture needs MariaDB 10.x or later")
        file, offset = reader.binlog_position
        position = Position(self._encode(file, offset), -1)

        def all_batches() -> Any:
            try:
                if first is not None:
                    yield first.cast(self.schema)
                for batch in batches:
                    yield batch.cast(self.schema)
            finally:
                reader.close(None)

        return Snapshot(position, f"{file}:{offset}", all_batches())

    def start(self, position: Position | None) -> None:
        if position is None:
            raise SourceError("a MySQL stream starts from a snapshot's position; none is recorded")
        if not self.stream_exists(position):
            raise SlotLostError(f"binlog file {self._decode_file(position.commit)[0]} was purged from the source",
                                position=self.format(position), spec_file=self.spec.file)
        self._skip_to = position
        self._resume = self._decode_file(position.commit)
        self._at = self._resume
        self._open_reader()

    def _open_reader(self) -> None:
        from pymysqlreplication.event import (
            HeartbeatLogEvent,
            MariadbGtidEvent,
            QueryEvent,
            RotateEvent,
            XidEvent,
        )
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        assert self._resume is not None
        file, offset = self._resume
        # Blocking, with a heartbeat whenever the server has had nothing to send for _HEARTBEAT_S:
        # one connection for the whole run, and a heartbeat tells the reader it is caught up.
        self._reader = self._repl.BinLogStreamReader(
            connection_settings={**self._settings, "connect_timeout": 10},
            server_id=self.spec.source.server_id, resume_stream=True, log_file=file, log_pos=offset,
            blocking=True, slave_heartbeat=_HEARTBEAT_S,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent, RotateEvent,
                         MariadbGtidEvent, HeartbeatLogEvent],
            only_schemas=[self._db], only_tables=[self._table])
        self._events = iter(self._reader)
        self._exhausted = False

    def acknowledge(self, position: Position) -> None:
        """Nothing to tell: a MySQL source keeps its binlog by its own retention."""

    def caught_up(self) -> bool:
        return self._txn is None and self._exhausted

    def lag(self, applied: Position | None) -> SourceLag:
        file, offset = self._master()
        if applied is None:
            return SourceLag(None, f"{file}:{offset}")
        at_file, at_offset = self._decode_file(applied.commit)
        return SourceLag(max(0, offset - at_offset) if at_file == file else None, f"{file}:{offset}")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._conn.open:
            self._conn.close()

    # -- the decode loop -----------------------------------------------------------------------

    def poll(self, buffer: ChangeBuffer, max_rows: int, timeout: float) -> Poll:
        from pymysqlreplication.event import HeartbeatLogEvent

        deadline = time.monotonic() + timeout
        try:
            while len(buffer) < max_rows:
                event = self._pending or next(self._events)
                self._pending = None
                if isinstance(event, HeartbeatLogEvent):  # the server is idle: everything so far was sent
                    self._exhausted = self._txn is None
                    if time.monotonic() >= deadline:
                        return Poll.TIMEOUT
                    continue
                self._exhausted = False
                if self._on_event(event, buffer):
                    self._pending = event
                    return Poll.SCHEMA
                if time.monotonic() >= deadline:
                    return Poll.TIMEOUT
        except (self._pymysql.MySQLError, OSError) as exc:
            raise SourceError(f"the MySQL source went away while reading its binlog: {exc}; run again to resume "
                              "from the last applied position") from None
        return Poll.FULL

    def _on_event(self, event: Any, buffer: ChangeBuffer) -> bool:
        """Decode one binlog event into `buffer`; True (nothing decoded) when the table gained columns."""
        from pymysqlreplication.event import QueryEvent, RotateEvent, XidEvent
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        end = int(event.packet.log_pos)
        if isinstance(event, RotateEvent):
            self._at = (str(event.next_binlog), int(event.position))
            return False
        file = self._at[0]
        if isinstance(event, XidEvent) or (isinstance(event, QueryEvent) and _query(event) == "COMMIT"):
            if self._txn is not None:
                buffer.last_complete = Position(self._txn, self._seq - 1)
                buffer.last_commit_time = float(event.timestamp)
            self._txn = None
            self._at = (file, end)
            return False
        if self._txn is None:  # the first event of a transaction (its GTID or BEGIN) starts where the last ended
            self._txn, self._seq = self._encode(*self._at), 0
        if isinstance(event, QueryEvent):
            if _query(event) != "BEGIN":  # a DDL statement is its own transaction
                if self._table.lower() in _query(event).lower():
                    self._check_retyped()
                self._txn = None
                self._at = (file, end)
            return False
        if not isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
            return False
        names = [c.name for c in event.columns]
        if any(n not in self.schema.names for n in names):
            return self._evolve(names)
        if len(names) < len(self.schema):
            self._check_dropped(names)
        op = INSERT if isinstance(event, WriteRowsEvent) else UPDATE if isinstance(event, UpdateRowsEvent) else DELETE
        key = "after_values" if op == UPDATE else "values"
        skip = self._skip_to
        for row in event.rows:
            values = row[key]
            if skip is None or (self._txn, self._seq) > (skip.commit, skip.seq):
                buffer.add(op, [_text(values.get(n)) for n in self.schema.names], self._txn, self._seq)
            self._seq += 1
        return False

    def _evolve(self, names: list[str]) -> bool:
        """The binlog shows columns the schema lacks: take them from the table's current definition."""
        current, _ = self._describe()
        added = [current.field(n) if n in current.names else pa.field(n, pa.string())
                 for n in names if n not in self.schema.names]
        self._check_dropped(names)
        self.schema = pa.schema([*self.schema, *added])
        return True

    def _check_dropped(self, names: list[str]) -> None:
        current = {name for name, _ in self._columns()}
        for gone in (n for n in self.schema.names if n not in names and n not in current):
            raise SchemaChangeError(self.table, f"column {gone} was dropped",
                                    position=self.format(Position(self._txn)) if self._txn else "-")

    def _check_retyped(self) -> None:
        """After an ALTER of the table: a retyped column stops the job (added/dropped ones show in the next rows)."""
        current, _ = self._describe()
        for field in self.schema:
            if field.name in current.names and current.field(field.name).type != field.type:
                raise SchemaChangeError(self.table, f"column {field.name} changed type from {field.type} to "
                                        f"{current.field(field.name).type}",
                                        position=self.format(Position(self._txn)) if self._txn else "-")


def _query(event: Any) -> str:
    query = event.query
    return (query.decode() if isinstance(query, bytes) else str(query)).strip()


def _text(value: Any) -> str | None:
    """A binlog value as the text both sources hand to `ChangeBuffer`."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)
