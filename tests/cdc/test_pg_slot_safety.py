"""The replication slot moves only past what the targets applied, and "caught up" means every commit arrived."""

from __future__ import annotations

import time

import psycopg
from cdc_case import CdcCase, assert_targets_equal_source

from towpath.cdc import load_cdc_spec, open_targets, run_cdc
from towpath.cdc.changes import ChangeBuffer
from towpath.cdc.postgres import PostgresCdcSource, parse_lsn
from towpath.project import Project


def run(case: CdcCase, **kw: object):  # type: ignore[no-untyped-def]
    project = Project(case.project.root)
    return run_cdc(load_cdc_spec(case.spec), catalog=project.catalog, root=project.root, **kw)  # type: ignore[arg-type]


def poll_for(source: PostgresCdcSource, seconds: float) -> ChangeBuffer:
    """Everything the stream delivers for `seconds`, in several polls, none of it acknowledged."""
    buffer = ChangeBuffer(source.schema)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        source.poll(buffer, 10_000, 0.5)
    return buffer


def test_unacknowledged_changes_are_never_confirmed_and_come_again(cdc_case: CdcCase) -> None:
    cdc_case.sql(f"INSERT INTO {cdc_case.name} (id, name) SELECT g, 'p' || g FROM generate_series(1, 3) g")
    run(cdc_case, until_caught_up=True)
    spec = load_cdc_spec(cdc_case.spec)
    with psycopg.connect(cdc_case.server.dsn) as early:
        # A transaction that begins before the one acknowledged below and commits after it: its Begin
        # starts before the confirmed position, the case in which psycopg2 advanced the slot on its own.
        early.execute(f"INSERT INTO {cdc_case.name} (id, name) VALUES (100, 'early')")
        cdc_case.sql(f"UPDATE {cdc_case.name} SET name = 'first' WHERE id = 1")
        source = PostgresCdcSource(spec)
        source.start(None)
        first = ChangeBuffer(source.schema)
        while first.last_complete is None:
            source.poll(first, 10_000, 0.5)
        project = Project(cdc_case.project.root)
        for target in open_targets(spec, project.catalog, project.root):  # applied, then acknowledged
            target.apply(first.to_batch("-"), source.primary_key)
            target.close()
        source.acknowledge(first.last_complete)
        cdc_case.sql(f"UPDATE {cdc_case.name} SET name = 'second' WHERE id = 2")
        early.commit()
    pending = poll_for(source, 4.0)  # received, keepalives in between, never applied
    assert len(pending) == 2 and pending.last_complete is not None
    # A restart skips every transaction whose commit LSN is below the slot's confirmed position: the slot
    # may have followed idle keepalives, but never past the first commit received and not applied.
    assert parse_lsn(cdc_case.slot_flushed() or "0/0") <= min(pending.commits)
    source.close()  # as if killed before applying
    again = PostgresCdcSource(spec)
    again.start(None)
    redelivered = poll_for(again, 2.0)
    again.close()
    assert sorted(redelivered.values[0]) == ["100", "2"]
    result = run(cdc_case, until_caught_up=True)
    assert result.received == 2 and result.changes == 2
    assert_targets_equal_source(cdc_case)


def test_idle_keepalives_confirm_other_tables_wal(cdc_case: CdcCase) -> None:
    """With nothing of ours pending, the slot follows the server's WAL end (no WAL pinned by an idle table)."""
    cdc_case.sql(f"INSERT INTO {cdc_case.name} (id, name) VALUES (1, 'a')")
    run(cdc_case, until_caught_up=True)
    before = parse_lsn(cdc_case.slot_flushed() or "0/0")
    cdc_case.sql(f"CREATE TABLE {cdc_case.name}_other AS SELECT g FROM generate_series(1, 20000) g")
    result = run(cdc_case, until_caught_up=True)
    assert result.caught_up and result.received == 0
    assert parse_lsn(cdc_case.slot_flushed() or "0/0") > before


def test_caught_up_waits_for_an_asynchronous_commit_not_yet_written(cdc_case: CdcCase) -> None:
    """The target is the WAL insert position: an async commit still in WAL buffers is waited for.

    With `synchronous_commit=off` (the test server's setting) and a slow WAL
    writer, the written WAL end (`pg_current_wal_lsn()`) stays before a commit
    the client already saw; taking it as the target stopped a run "caught up"
    with 0 changes (the flake of the long transaction test).
    """
    run(cdc_case, until_caught_up=True)
    cdc_case.sql("ALTER SYSTEM SET wal_writer_delay = '2s'", "SELECT pg_reload_conf()")
    try:
        time.sleep(0.3)  # the reload reaches the WAL writer by signal; nothing to wait on but time
        with psycopg.connect(cdc_case.server.dsn) as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute(f"INSERT INTO {cdc_case.name} (id, name) SELECT g, 'bulk ' || g "
                         "FROM generate_series(1, 50) g")
            conn.commit()
            written, inserted = conn.execute("SELECT pg_current_wal_lsn()::text, "
                                             "pg_current_wal_insert_lsn()::text").fetchone()  # type: ignore[misc]
        assert parse_lsn(written) < parse_lsn(inserted)  # the case: the commit is not in the written WAL yet
        result = run(cdc_case, until_caught_up=True)
    finally:
        cdc_case.sql("ALTER SYSTEM RESET wal_writer_delay", "SELECT pg_reload_conf()")
    assert result.caught_up and result.received == 50
    assert_targets_equal_source(cdc_case)
