"""A PostgreSQL walsender connection spoken through libpq (psycopg's `pq` layer), with no feedback of its own.

Why not psycopg2's `LogicalReplicationConnection`: on every keepalive it moves its
flush position up to the server's WAL end whenever the last data message *started*
at or before the position the client last confirmed, and reports it on its next
status update. A `Begin` of a transaction that started before the last confirmed
commit, or a `Relation` message (sent with start 0), passes that test while whole
transactions still sit unapplied in the client's buffer, so the slot could move past
changes no target has: a crash then loses them. Here the server hears only the
positions the caller sends.
"""

from __future__ import annotations

import select
import struct
import time
from typing import Any

__all__ = ["KEEPALIVE", "XLOGDATA", "ReplicationConnection", "WireError"]

XLOGDATA, KEEPALIVE = 0x77, 0x6B
"""First byte of a CopyData message: `w` (XLogData: start, end, time, payload) or `k` (keepalive: end, time, reply)."""

_STATUS = struct.Struct("!cqqqqb")
_PG_EPOCH_US = 946_684_800 * 1_000_000


class WireError(Exception):
    """The server refused a command or the connection broke (the caller turns it into a `CdcError`)."""


class ReplicationConnection:
    """One `replication=database` connection: commands, then `START_REPLICATION` and the CopyBoth stream."""

    def __init__(self, dsn: str) -> None:
        import psycopg
        from psycopg import conninfo, pq

        self._pq, self._broken = pq, psycopg.Error
        try:
            self._pg: Any = pq.PGconn.connect(conninfo.make_conninfo(dsn, replication="database").encode())
        except psycopg.Error as exc:  # a malformed conninfo
            raise WireError(str(exc)) from None
        if self._pg.status != pq.ConnStatus.OK:
            message = self._error()
            self._pg.finish()
            raise WireError(message)

    def _error(self) -> str:
        return bytes(self._pg.error_message).decode(errors="replace").strip()

    def command(self, sql: str) -> list[tuple[str | None, ...]]:
        """Run one replication command; its rows as text."""
        result = self._pg.exec_(sql.encode())
        status = self._pq.ExecStatus
        if result.status not in (status.TUPLES_OK, status.COMMAND_OK):
            raise WireError(bytes(result.error_message).decode(errors="replace").strip() or self._error())
        return [tuple(None if (v := result.get_value(r, c)) is None else bytes(v).decode()
                      for c in range(result.nfields)) for r in range(result.ntuples)]

    def start(self, sql: str) -> None:
        """`START_REPLICATION ...`: from here on only `read`, `wait` and `status` are valid."""
        result = self._pg.exec_(sql.encode())
        if result.status != self._pq.ExecStatus.COPY_BOTH:
            raise WireError(bytes(result.error_message).decode(errors="replace").strip() or self._error())

    def read(self) -> bytes | None:
        """The next CopyData message, or None when none has arrived (never blocks)."""
        try:
            size, data = self._pg.get_copy_data(1)
            if size == 0:
                self._pg.consume_input()
                size, data = self._pg.get_copy_data(1)
        except self._broken as exc:  # the connection broke
            raise WireError(str(exc)) from None
        if size > 0:
            return bytes(data)
        if size == 0:
            return None
        result = self._pg.get_result()  # -1: the server ended the stream (shutdown, an error)
        message = bytes(result.error_message).decode(errors="replace").strip() if result is not None else ""
        raise WireError(message or self._error() or "the server ended the replication stream")

    def wait(self, timeout: float) -> None:
        """Block until the socket is readable or `timeout` seconds pass."""
        select.select([self._pg.socket], [], [], max(0.0, timeout))

    def status(self, lsn: int, *, reply: bool = False) -> None:
        """A standby status update: everything before `lsn` is written, flushed and applied here."""
        now = int(time.time() * 1_000_000) - _PG_EPOCH_US
        try:
            if self._pg.put_copy_data(_STATUS.pack(b"r", lsn, lsn, lsn, now, 1 if reply else 0)) != 1:
                raise WireError(self._error())
            while self._pg.flush() == 1:
                select.select([], [self._pg.socket], [], 1.0)
        except self._broken as exc:
            raise WireError(str(exc)) from None

    @property
    def closed(self) -> bool:
        return bool(self._pg.status == self._pq.ConnStatus.BAD)

    def close(self) -> None:
        self._pg.finish()
