"""A PostgreSQL with logical WAL for the CDC tests, and a fresh source table per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cdc_case import CdcCase

import services
from towpath.project import Project

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_logical() -> Iterator[services.PostgresServer]:
    """A PostgreSQL with `wal_level=logical` (a separate server from the plain session one)."""
    settings = {"wal_level": "logical", "max_replication_slots": "40", "max_wal_senders": "40"}
    with services.postgres_server(settings=settings) as server:
        yield server


@pytest.fixture
def cdc_case(postgres_logical: services.PostgresServer, tmp_path: Path) -> Iterator[CdcCase]:
    """A fresh source table `cdcN (id, name, city, score, updated)`, a project and a spec with all three targets."""
    name = f"cdc{os.getpid()}_{next(_names)}"
    project = Project.init(tmp_path / "proj")
    spec = project.root / f"{name}.cdc.yaml"
    spec.write_text(
        f"name: {name}\n"
        "source:\n  type: postgres\n  dsn: ${CDC_TEST_DSN}\n"
        f"  table: public.{name}\n"
        "batch: {max_rows: 500, max_seconds: 0.3}\n"
        "targets:\n"
        f"  - {{type: iceberg, table: lake.{name}, partition_by: ['bucket(4, id)'], compact_every: 5}}\n"
        f"  - {{type: search, index: {name}}}\n"
        f"  - {{type: kv, namespace: {name}}}\n"
    )
    os.environ["CDC_TEST_DSN"] = postgres_logical.dsn
    case = CdcCase(postgres_logical, project, name, spec)
    case.sql(f"CREATE TABLE {name} (id int PRIMARY KEY, name text NOT NULL, city text, score numeric(8,2), "
             "updated timestamptz DEFAULT now())")
    yield case
    with psycopg.connect(postgres_logical.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name = %s AND active_pid IS NULL", (f"towpath_{name}",))
