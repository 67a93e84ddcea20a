"""Fixtures for the state room: one store per test, on SQLite (a file) and on Postgres (a fresh database)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from towpath.state import StateStore

DATA = Path(__file__).parent / "data"


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store lives: a SQLite file, or a new database on the session's Postgres."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    server = request.getfixturevalue("postgres_server")
    name = f"state_{secrets.token_hex(4)}"
    with psycopg.connect(server.dsn, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.dsn_for(name)


@pytest.fixture
def store(location: str) -> StateStore:
    return StateStore(location)


@pytest.fixture
def audit() -> Callable[..., Any]:
    """An `AuditResult` with defaults for the fields a test does not care about."""
    from towpath.audits import AuditResult

    def make(**fields: Any) -> AuditResult:
        values: dict[str, Any] = {
            "name": "no_nulls", "function": "not_null", "table": "foo.t", "blocking": True, "passed": True,
            "failing_rows": 0, "sample": [], "message": "passed", "sql": "SELECT 1",
        }
        return AuditResult(**{**values, **fields})

    return make
