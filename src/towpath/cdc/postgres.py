"""PostgreSQL logical replication: a `pgoutput` slot read over a walsender connection (`pg_wire.py`).

The handoff: `CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT`
returns the slot's consistent point and a snapshot name; the table is read in a
REPEATABLE READ transaction set to that snapshot (binary COPY through ADBC, the
connectors room's `PostgresSource`), so it holds exactly the transactions that
committed before the consistent point, and the slot streams exactly the ones
after it. Nothing is lost or read twice.

The slot's confirmed position moves only to the end of a transaction every
target applied durably (`acknowledge`), or, while nothing received is unapplied,
to a keepalive's WAL end (WAL of other tables: without it an idle table would pin
WAL forever). The server sends a keepalive after everything it decoded before
that point, so nothing committed before it can still be on the way.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import pyarrow as pa

from towpath.cdc.changes import DELETE, INSERT, UPDATE, ChangeBuffer, Position
from towpath.cdc.errors import CdcError, SchemaChangeError, SlotLostError, SourceError
from towpath.cdc.pg_wire import KEEPALIVE, XLOGDATA, ReplicationConnection, WireError
from towpath.cdc.source import Poll, Snapshot, SourceLag
from towpath.cdc.spec import CdcSpec
from towpath.errors import NotInstalledError

__all__ = ["PostgresCdcSource", "format_lsn", "parse_lsn"]

_PG_EPOCH = 946_684_800
"""2000-01-01 in Unix seconds: pgoutput timestamps count microseconds from there."""

_NUMERIC_OID = 1700
_BE_I16, _BE_I32, _BE_I64 = struct.Struct("!h"), struct.Struct("!i"), struct.Struct("!q")
_BEGIN, _COMMIT = struct.Struct("!qqi"), struct.Struct("!bqqq")
_KEEPALIVE = struct.Struct("!qqb")
_XLOGDATA_HEADER = 25
"""`w`, data start, WAL end, send time: the pgoutput message follows."""
_SHORT_PAGE_HEADER, _LONG_PAGE_HEADER = 24, 40
_RELEASE_SECONDS = 5.0


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise NotInstalledError("cdc source", "postgres", extra="postgres", missing="psycopg") from None
    return psycopg


class PostgresCdcSource:
    """One table of a PostgreSQL database, through a publication and a logical replication slot."""

    def __init__(self, spec: CdcSpec) -> None:
        self.spec = spec
        schema_name, _, table = spec.source.table.rpartition(".")
        self._schema_name, self._table = schema_name or "public", table
        self.table = f"{self._schema_name}.{self._table}"
        psycopg = _psycopg()
        try:
            self._sql = psycopg.connect(spec.source.url, autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to the PostgreSQL source of {spec.name}: {exc}".strip()) from None
        level = self._one("SHOW wal_level")
        if level != "logical":
            raise SourceError(f"the PostgreSQL source has wal_level={level}; change data capture needs "
                              "wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart it)")
        self.schema, self.primary_key, self._oid = self._describe()
        self._repl: ReplicationConnection | None = None
        self._columns: list[int] | None = None  # schema field i <- relation column _columns[i] (-1: absent)
        self._txn: tuple[int, int] | None = None  # (commit lsn, commit time µs) of the open transaction
        self._seq = 0
        self._ends: dict[int, int] = {}  # commit lsn -> end lsn of whole transactions not yet acknowledged
        self._target_lsn = 0  # the end of WAL when `start` ran: caught up once the stream is past it
        self._received = 0  # the furthest WAL end the stream has shown (commits and keepalives)
        self._flushed = 0  # what the slot was last told is applied
        self._idle_end = 0  # a keepalive's WAL end that arrived while nothing received was unapplied

    # -- catalog -------------------------------------------------------------------------------

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self._sql.execute(sql, params).fetchone()
        return row[0] if row else None

    def _describe(self) -> tuple[pa.Schema, list[str], int]:
        from towpath.connectors.postgres import arrow_type

        oid = self._one("SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
                        (self._schema_name, self._table))
        if oid is None:
            raise SourceError(f"{self.spec.file}: source.table: table {self.table} does not exist in the source")
        cols = self._sql.execute(
            "SELECT attname, atttypid::int, atttypmod, attnotnull FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (oid,)).fetchall()
        fields = [pa.field(name, _arrow(arrow_type, typ, mod), not notnull) for name, typ, mod, notnull in cols]
        key = self.spec.source.primary_key or [r[0] for r in self._sql.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)", (oid,)).fetchall()]
        if not key:
            raise SourceError(f"{self.spec.file}: source.primary_key: table {self.table} has no primary key; "
                              "name the columns to merge on")
        missing = [k for k in key if k not in {f.name for f in fields}]
        if missing:
            raise SourceError(f"{self.spec.file}: source.primary_key: {self.table} has no column {missing[0]}")
        return pa.schema(fields), list(key), int(oid)

    def format(self, position: Position | None) -> str:
        return format_lsn(position.commit) if position is not None and position.commit >= 0 else "-"

    # -- stream life cycle ---------------------------------------------------------------------

    def _slot(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._sql.execute(
            "SELECT confirmed_flush_lsn::text, wal_status, active_pid FROM pg_replication_slots "
            "WHERE slot_name = %s", (self.spec.slot,)).fetchone()
        return row

    def stream_exists(self, position: Position | None) -> bool:
        slot = self._slot()
        return slot is not None and slot[1] != "lost"

    def _ensure_publication(self) -> None:
        from psycopg import sql

        if self._one("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.spec.publication,)) is None:
            self._sql.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                sql.Identifier(self.spec.publication), sql.Identifier(self._schema_name, self._table)))

    def _connect_replication(self) -> ReplicationConnection:
        if self._repl is None:
            try:
                self._repl = ReplicationConnection(self.spec.source.url)
            except WireError as exc:
                raise SourceError(f"cannot open a replication connection to the source of {self.spec.name}: "
                                  f"{exc} (the role needs REPLICATION)") from None
        return self._repl

    def _idle_slot(self) -> tuple[Any, ...] | None:
        """The slot once no walsender holds it (None: there is none).

        A job killed a moment ago leaves its walsender behind until the server
        notices the closed socket, so a prompt restart waits a few seconds for it
        before deciding another run holds the slot.
        """
        deadline = time.monotonic() + _RELEASE_SECONDS
        while (slot := self._slot()) is not None and slot[2] is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if slot is not None and slot[2] is not None:
            raise CdcError(f"replication slot {self.spec.slot} is in use by server process {slot[2]}: "
                           "another `towpath cdc run` of this spec is running")
        return slot

    def drop_stream(self) -> None:
        if self._idle_slot() is not None:
            self._sql.execute("SELECT pg_drop_replication_slot(%s)", (self.spec.slot,))

    def snapshot(self) -> Snapshot:
        from towpath.connectors.postgres import PostgresSource
        from towpath.pipeline import ProcessorContext

        self._ensure_publication()
        wire = self._connect_replication()
        try:
            rows = wire.command(f'CREATE_REPLICATION_SLOT "{self.spec.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT')
        except WireError as exc:
            raise SourceError(f"cannot create replication slot {self.spec.slot}: {exc}") from None
        _, consistent, snapshot_name, _ = rows[0]
        assert consistent is not None and snapshot_name is not None
        position = Position(parse_lsn(consistent), -1)
        reader = PostgresSource(self.spec.source.url, table=self.table, columns=self.schema.names,
                                batch_size=256_000)
        reader.snapshot = snapshot_name

        def batches() -> Any:
            # The exported snapshot lives while the replication connection stays idle: read it all first.
            reader.open(ProcessorContext(name=f"cdc:{self.spec.name}:snapshot"))
            try:
                for batch in reader.read():
                    yield batch.cast(self.schema)
            finally:
                reader.close(None)

        return Snapshot(position, consistent, batches())

    def start(self, position: Position | None) -> None:
        slot = self._slot()
        shown = self.format(position)
        if slot is None:
            raise SlotLostError(f"replication slot {self.spec.slot} no longer exists on the source",
                                position=shown, spec_file=self.spec.file)
        if slot[1] == "lost":
            raise SlotLostError(f"replication slot {self.spec.slot} was invalidated (wal_status=lost: the server "
                                "removed WAL it held, see max_slot_wal_keep_size)", position=shown,
                                spec_file=self.spec.file)
        slot = self._idle_slot()
        assert slot is not None
        self._ensure_publication()
        self._target_lsn = self._wal_insert_end()
        self._flushed = parse_lsn(slot[0]) if slot[0] else 0
        wire = self._connect_replication()
        publication = self.spec.publication.replace("'", "''")
        try:
            wire.start(f'START_REPLICATION SLOT "{self.spec.slot}" LOGICAL 0/0 '
                       f"(proto_version '1', publication_names '{publication}')")
        except WireError as exc:
            raise SourceError(f"cannot stream from slot {self.spec.slot}: {exc}") from None

    def _wal_insert_end(self) -> int:
        """The end of WAL as far as any committed transaction goes (asynchronous commits included).

        `pg_current_wal_lsn()` is only the *written* WAL: with `synchronous_commit=off`
        a transaction that already committed can lie beyond it, and a job that took it
        as its target stopped "caught up" before receiving it (the CI flake of the long
        transaction test). The insert position is past every commit; at the start of a
        page it points after the page header, the same place as the end of the record
        before it, so it is moved back onto the boundary the stream reports.
        """
        row = self._sql.execute("SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size')::int, "
                                "pg_size_bytes(current_setting('wal_segment_size'))").fetchone()
        assert row is not None
        lsn, block, segment = parse_lsn(row[0]), int(row[1]), int(row[2])
        if lsn % segment == _LONG_PAGE_HEADER:
            return lsn - _LONG_PAGE_HEADER
        if lsn % block == _SHORT_PAGE_HEADER:
            return lsn - _SHORT_PAGE_HEADER
        return lsn

    def _wire(self) -> ReplicationConnection:
        assert self._repl is not None, "start() first"
        return self._repl

    def _settled(self) -> bool:
        """Is everything received applied and acknowledged (no open transaction, no unacknowledged commit)?"""
        return self._txn is None and not self._ends

    def _confirm(self, lsn: int, *, reply: bool = False) -> None:
        if lsn > self._flushed or reply:
            self._flushed = max(self._flushed, lsn)
            self._wire().status(self._flushed, reply=reply)

    def acknowledge(self, position: Position) -> None:
        ends = [c for c in self._ends if c <= position.commit]
        flush = max((self._ends.pop(c) for c in ends), default=0)
        if self._settled():
            flush = max(flush, self._idle_end)
        try:
            self._confirm(flush)
        except WireError as exc:
            raise self._gone(exc) from None

    def caught_up(self) -> bool:
        # Everything committed before the target was sent before any message showing a WAL end at or past it
        # (a commit, in commit order, or a keepalive, which follows what the walsender decoded before it).
        return self._txn is None and self._received >= self._target_lsn

    def lag(self, applied: Position | None) -> SourceLag:
        current = self._one("SELECT pg_current_wal_lsn()::text")
        slot = self._slot()
        confirmed = parse_lsn(slot[0]) if slot and slot[0] else (applied.commit if applied else None)
        return SourceLag(max(0, parse_lsn(current) - confirmed) if confirmed is not None else None, current)

    def close(self) -> None:
        for conn in (self._repl, self._sql):
            if conn is not None and not conn.closed:
                conn.close()
        self._repl = None

    # -- the decode loop -----------------------------------------------------------------------

    def poll(self, buffer: ChangeBuffer, max_rows: int, timeout: float) -> Poll:
        deadline = time.monotonic() + timeout
        wire, asked = self._wire(), False
        try:
            while len(buffer) < max_rows:
                msg = wire.read()
                if msg is None:
                    if self._settled():
                        # Confirm other tables' WAL, and ask once for a keepalive (it shows the walsender's
                        # position, for `caught_up`, and answers a server that waits to shut down).
                        self._confirm(self._idle_end, reply=not asked)
                        asked = True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return Poll.TIMEOUT
                    wire.wait(min(remaining, 1.0))
                    continue
                if msg[0] == XLOGDATA:
                    if self._decode(msg[_XLOGDATA_HEADER:], buffer):
                        return Poll.SCHEMA
                elif msg[0] == KEEPALIVE:
                    end, _, reply = _KEEPALIVE.unpack_from(msg, 1)
                    self._received = max(self._received, end)
                    if self._settled():
                        self._idle_end = max(self._idle_end, end)
                    if reply:  # the walsender's timeout: tell it what is applied, nothing more
                        wire.status(self._flushed)
                if time.monotonic() >= deadline:
                    return Poll.TIMEOUT
        except WireError as exc:
            raise self._gone(exc) from None
        return Poll.FULL

    def _gone(self, exc: BaseException) -> SourceError:
        return SourceError(f"the PostgreSQL source went away while streaming slot {self.spec.slot}: "
                           f"{str(exc).strip()}; run again to resume from the last applied position")

    def _decode(self, payload: bytes, buffer: ChangeBuffer) -> bool:
        """Decode one pgoutput message into `buffer`; True when the relation changed shape."""
        kind = payload[0]
        if kind == 0x49 or kind == 0x55 or kind == 0x44:  # I U D
            assert self._txn is not None and self._columns is not None
            (relid,) = _BE_I32.unpack_from(payload, 1)
            if relid != self._oid:
                return False
            offset = 5
            tag = payload[offset]
            old: list[str | None] | None = None
            if kind != 0x49 and tag in (0x4B, 0x4F):  # K(ey) / O(ld) tuple
                old, offset = _tuple(payload, offset + 1, None)
                tag = payload[offset] if offset < len(payload) else 0
            if kind == 0x44:
                row = old
                op = DELETE
            else:
                row, offset = _tuple(payload, offset + 1, old)
                op = INSERT if kind == 0x49 else UPDATE
            assert row is not None
            buffer.add(op, [row[i] if i >= 0 else None for i in self._columns], self._txn[0], self._seq)
            self._seq += 1
        elif kind == 0x42:  # Begin
            final_lsn, ts, _ = _BEGIN.unpack_from(payload, 1)
            self._txn, self._seq = (final_lsn, ts), 0
        elif kind == 0x43:  # Commit
            _, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(payload, 1)
            self._ends[commit_lsn] = end_lsn
            self._received = max(self._received, end_lsn)
            buffer.last_complete = Position(commit_lsn, self._seq - 1)
            buffer.last_commit_time = ts / 1e6 + _PG_EPOCH
            self._txn = None
        elif kind == 0x52:  # Relation
            return self._on_relation(payload)
        elif kind == 0x54:  # Truncate
            raise CdcError(f"TRUNCATE of {self.table} at {format_lsn(self._txn[0] if self._txn else 0)}: "
                           f"re-snapshot with `towpath cdc run {self.spec.file} --resnapshot`")
        return False

    def _on_relation(self, payload: bytes) -> bool:
        (relid,) = _BE_I32.unpack_from(payload, 1)
        offset = 5
        _, offset = _cstring(payload, offset)
        _, offset = _cstring(payload, offset)
        (ncols,) = _BE_I16.unpack_from(payload, offset + 1)
        offset += 3
        names, types, mods = [], [], []
        for _ in range(ncols):
            name, offset = _cstring(payload, offset + 1)
            typ, mod = struct.unpack_from("!ii", payload, offset)
            offset += 8
            names.append(name)
            types.append(typ)
            mods.append(mod)
        if relid != self._oid:
            return False
        return self._evolve(names, types, mods)

    def _evolve(self, names: list[str], types: list[int], mods: list[int]) -> bool:
        """The table's shape in the stream: added columns go on; a dropped or retyped column stops the job.

        A column the stream lacks but the table still has was added after these
        changes were written (the job was down meanwhile): their rows get NULLs.
        """
        from towpath.connectors.postgres import arrow_type

        where = self.format(Position(self._txn[0])) if self._txn else "-"
        known = {f.name: f for f in self.schema}
        lacking = [n for n in known if n not in names]
        if lacking:
            current = {r[0] for r in self._sql.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
                (self._oid,)).fetchall()}
            for gone in lacking:
                if gone not in current:
                    raise SchemaChangeError(self.table, f"column {gone} was dropped", position=where)
        added = []
        for name, typ, mod in zip(names, types, mods, strict=True):
            new = _arrow(arrow_type, typ, mod)
            if name in known and known[name].type != new:
                raise SchemaChangeError(self.table, f"column {name} changed type from {known[name].type} to {new}",
                                        position=where)
            if name not in known:
                added.append(pa.field(name, new))
        if added:
            self.schema = pa.schema([*self.schema, *added])
        index = {n: i for i, n in enumerate(names)}
        self._columns = [index.get(f.name, -1) for f in self.schema]
        return bool(added)


def _arrow(arrow_type: Any, typ: int, mod: int) -> pa.DataType:
    precision = scale = None
    if typ == _NUMERIC_OID and mod >= 4:
        precision, scale = ((mod - 4) >> 16) & 0xFFFF, (mod - 4) & 0xFFFF
    result: pa.DataType = arrow_type(typ, precision, scale)
    return result


def _cstring(payload: bytes, offset: int) -> tuple[str, int]:
    end = payload.index(0, offset)
    return payload[offset:end].decode(), end + 1


def _tuple(payload: bytes, offset: int, old: list[str | None] | None) -> tuple[list[str | None], int]:
    """pgoutput TupleData: per column `n` (null), `u` (unchanged TOAST: taken from the old tuple) or `t` + text."""
    (ncols,) = _BE_I16.unpack_from(payload, offset)
    offset += 2
    row: list[str | None] = []
    for i in range(ncols):
        kind = payload[offset]
        if kind == 0x74:  # t
            (size,) = _BE_I32.unpack_from(payload, offset + 1)
            start = offset + 5
            row.append(payload[start:start + size].decode())
            offset = start + size
        elif kind == 0x6E:  # n
            row.append(None)
            offset += 1
        elif kind == 0x75:  # u
            if old is None:
                raise CdcError("an update left a large (TOASTed) value unchanged and the source did not send it; "
                               "ALTER TABLE ... REPLICA IDENTITY FULL so the old row carries it, then re-snapshot")
            row.append(old[i])
            offset += 1
        else:
            raise CdcError(f"unexpected pgoutput tuple column kind {chr(kind)!r}")
    return row, offset
