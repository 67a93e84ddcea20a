"""Leases: a singleton role held by one live process, taken over from a dead or silent one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from towpath.state import LeaseHeldError, LeaseLostError, StateStore
from towpath.state import _schema as t


def test_a_live_holder_keeps_the_lease_and_renewal_moves_its_heartbeat(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    lease = store.leases.acquire("scheduler", ttl_s=60)
    with pytest.raises(LeaseHeldError, match=rf"scheduler is already held by pid {lease.pid} on {lease.host}"):
        store.leases.acquire("scheduler", ttl_s=60)
    renewed = store.leases.renew(lease)
    assert renewed.heartbeat_at >= lease.heartbeat_at
    assert store.leases.holder("scheduler", ttl_s=60) == renewed
    store.leases.release(renewed)
    assert store.leases.holder("scheduler", ttl_s=60) is None


def test_a_silent_holder_on_another_host_loses_the_lease_and_finds_out(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    theirs = store.leases.acquire("scheduler", ttl_s=60)
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    with store.db.write() as conn:  # as if another host took it and then went quiet
        conn.execute(sa.update(t.leases).values(host="elsewhere", heartbeat_at=stale))
    assert store.leases.holder("scheduler", ttl_s=600) is not None  # still within a 10-minute ttl
    mine = store.leases.acquire("scheduler", ttl_s=60)
    assert mine.holder != theirs.holder
    with pytest.raises(LeaseLostError):
        store.leases.renew(theirs)
    store.leases.release(theirs)  # a no-op: it is not theirs any more
    assert store.leases.holder("scheduler", ttl_s=60) == mine
