"""PostgreSQL logical replication: a `pgoutput` slot read through psycopg2's replication connection.

The handoff: `CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT`
returns the slot's consistent point and a snapshot name; the table is read in a
REPEATABLE READ transaction set to that snapshot (binary COPY through ADBC, the
connectors room's `PostgresSource`), so it holds exactly the transactions that
committed before the consistent point, and the slot streams exactly the ones
after it. Nothing is lost or read twice.

The slot's confirmed position only moves when `acknowledge` is called, i.e.
after every target applied the changes durably, so the server retains the WAL a
crashed job still needs and no more.
"""

from __future__ import annotations

import select
import struct
import time
from typing import Any

import pyarrow as pa

from towpath.cdc.changes import DELETE, INSERT, UPDATE, ChangeBuffer, Position
from towpath.cdc.errors import CdcError, SchemaChangeError, SlotLostError, SourceError
from towpath.cdc.source import Poll, Snapshot, SourceLag
from towpath.cdc.spec import CdcSpec
from towpath.errors import NotInstalledError

__all__ = ["PostgresCdcSource", "format_lsn", "parse_lsn"]

_PG_EPOCH = 946_684_800
"""2000-01-01 in Unix seconds: pgoutput timestamps count microseconds from there."""

_NUMERIC_OID = 1700
_BE_I16, _BE_I32, _BE_I64 = struct.Struct("!h"), struct.Struct("!i"), struct.Struct("!q")
_BEGIN, _COMMIT = struct.Struct("!qqi"), struct.Struct("!bqqq")


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _modules() -> tuple[Any, Any, Any]:
    try:
        import psycopg
        import psycopg2
        import psycopg2.extras
    except ImportError:
        raise NotInstalledError("cdc source", "postgres", extra="postgres", missing="psycopg2") from None
    return psycopg, psycopg2, psycopg2.extras


class PostgresCdcSource:
    """One table of a PostgreSQL database, through a publication and a logical replication slot."""

    def __init__(self, spec: CdcSpec) -> None:
        self.spec = spec
        schema_name, _, table = spec.source.table.rpartition(".")
        self._schema_name, self._table = schema_name or "public", table
        self.table = f"{self._schema_name}.{self._table}"
        psycopg, self._pg2, self._extras = _modules()
        try:
            self._sql = psycopg.connect(spec.source.dsn, autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to the PostgreSQL source of {spec.name}: {exc}".strip()) from None
        level = self._one("SHOW wal_level")
        if level != "logical":
            raise SourceError(f"the PostgreSQL source has wal_level={level}; change data capture needs "
                              "wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart it)")
        self.schema, self.primary_key, self._oid = self._describe()
        self._repl: Any = None
        self._cursor: Any = None
        self._columns: list[int] | None = None  # schema field i <- relation column _columns[i] (-1: absent)
        self._txn: tuple[int, int] | None = None  # (commit lsn, commit time µs) of the open transaction
        self._seq = 0
        self._ends: dict[int, int] = {}  # commit lsn -> end lsn of whole transactions not yet acknowledged
        self._target_lsn = 0
        self._idle_flushed, self._asked = 0, False
        self._drained = False
        self._quiet_polls = 0

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

    def _connect_replication(self) -> None:
        if self._repl is None:
            try:
                self._repl = self._pg2.connect(self.spec.source.dsn,
                                               connection_factory=self._extras.LogicalReplicationConnection)
            except self._pg2.Error as exc:
                raise SourceError(f"cannot open a replication connection to the source of {self.spec.name}: "
                                  f"{str(exc).strip()} (the role needs REPLICATION)") from None
            self._cursor = self._repl.cursor()

    def drop_stream(self) -> None:
        slot = self._slot()
        if slot is not None:
            if slot[2] is not None:
                raise CdcError(f"replication slot {self.spec.slot} is in use by server process {slot[2]}: "
                               "another `towpath cdc run` of this spec is running")
            self._sql.execute("SELECT pg_drop_replication_slot(%s)", (self.spec.slot,))

    def snapshot(self) -> Snapshot:
        from towpath.connectors.postgres import PostgresSource
        from towpath.pipeline import ProcessorContext

        self._ensure_publication()
        self._connect_replication()
        try:
            self._cursor.execute(f'CREATE_REPLICATION_SLOT "{self.spec.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT')
        except self._pg2.Error as exc:
            raise SourceError(f"cannot create replication slot {self.spec.slot}: {str(exc).strip()}") from None
        _, consistent, snapshot_name, _ = self._cursor.fetchone()
        position = Position(parse_lsn(consistent), -1)
        reader = PostgresSource(self.spec.source.dsn, table=self.table, columns=self.schema.names,
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
        if slot[2] is not None:
            raise CdcError(f"replication slot {self.spec.slot} is in use by server process {slot[2]}: "
                           "another `towpath cdc run` of this spec is running")
        self._ensure_publication()
        self._target_lsn = parse_lsn(self._one("SELECT pg_current_wal_lsn()::text"))
        self._connect_replication()
        try:
            self._cursor.start_replication(slot_name=self.spec.slot, decode=False, status_interval=5,
                                           options={"proto_version": "1",
                                                    "publication_names": self.spec.publication})
        except self._pg2.Error as exc:
            raise SourceError(f"cannot stream from slot {self.spec.slot}: {str(exc).strip()}") from None

    def acknowledge(self, position: Position) -> None:
        ends = [c for c in self._ends if c <= position.commit]
        flush = max((self._ends.pop(c) for c in ends), default=position.commit)
        try:
            self._cursor.send_feedback(write_lsn=flush, flush_lsn=flush, reply=True)
        except self._pg2.Error as exc:
            raise self._gone(exc) from None

    def _confirm_idle(self) -> None:
        """Nothing received is unapplied: confirm up to the stream's end (WAL of other tables, checkpoints).

        Without it the slot would pin WAL while the table is idle, and a server
        shutting down would wait for the confirmation (its walsender drains first).
        Asking for a reply also brings a keepalive, which moves `wal_end` for `caught_up`.
        """
        end = int(self._cursor.wal_end or 0)
        if end > self._idle_flushed or not self._asked:
            self._cursor.send_feedback(write_lsn=end, flush_lsn=end, reply=True)
            self._idle_flushed, self._asked = end, True

    def caught_up(self) -> bool:
        # wal_end is the server's end of WAL as of the last message: it proves we have everything up to
        # there only once the socket is drained (a data message carries it too, ahead of the data after it).
        # A drained socket can still be a moment ahead of a transaction the walsender is sending (seen in
        # CI: a long transaction's changes came after the first quiet poll), so it must hold for two polls.
        quiet = self._drained and self._txn is None and int(self._cursor.wal_end or 0) >= self._target_lsn
        self._quiet_polls = self._quiet_polls + 1 if quiet else 0
        return self._quiet_polls >= 2

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
        cursor = self._cursor
        self._asked = False
        try:
            while len(buffer) < max_rows:
                msg = cursor.read_message()
                self._drained = msg is None
                if msg is None:
                    if len(buffer) == 0 and self._txn is None and not self._ends:
                        self._confirm_idle()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return Poll.TIMEOUT
                    select.select([cursor], [], [], min(remaining, 1.0))
                    continue
                if self._decode(msg.payload, buffer):
                    return Poll.SCHEMA
                if time.monotonic() >= deadline:
                    return Poll.TIMEOUT
        except self._pg2.Error as exc:
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
