"""DuckDB extensions load from their wheels, offline, for the pinned DuckDB."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import duckdb
import pytest

from towpath.engines.extensions import extension_path, load_extension
from towpath.errors import EngineError


def test_a_scanner_loads_from_its_wheel_and_reads_its_database(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as source:
        source.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
        source.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 9.5), (2, 20.0)])
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")  # prove nothing is downloaded
    load_extension(con, "sqlite_scanner")
    con.execute(f"ATTACH '{db}' AS shop (TYPE sqlite)")
    assert con.sql("SELECT sum(amount) FROM shop.orders WHERE id = 2").fetchone() == (20.0,)


@pytest.mark.parametrize("name", ["postgres_scanner", "mysql_scanner", "sqlite_scanner"])
def test_every_default_scanner_ships_a_binary_for_the_installed_duckdb(name: str) -> None:
    assert f"v{duckdb.__version__}" in str(extension_path(name))


def test_a_missing_extension_names_the_wheel_to_install() -> None:
    with pytest.raises(EngineError, match=re.escape(f"pip install 'duckdb-extension-no-such=={duckdb.__version__}'")):
        extension_path("no_such")
