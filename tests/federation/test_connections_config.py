"""`connections:` in towpath.yaml: every mistake at its file:line:column, with "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from towpath.config import load_project_config
from towpath.errors import SpecError


def load(tmp_path: Path, text: str) -> None:
    (tmp_path / "towpath.yaml").write_text(text)
    load_project_config(tmp_path)


@pytest.mark.parametrize(("yaml", "message"), [
    ("connections:\n  pg:\n    type: postgres\n    user: u\n    database: d\n    databse: x\n",
     r"towpath.yaml:6:5: connections.pg.databse: unknown field 'databse'; did you mean 'database'\?"),
    ("connections:\n  pg:\n    type: postgress\n    user: u\n",
     r"towpath.yaml:3:\d+: connections.pg.*expected a connection type: .*postgres"),
    ("connections:\n  pg:\n    type: mysql\n    user: u\n",
     r"towpath.yaml:2:3: connections.pg.database: missing required field 'database'"),
    ("connections:\n  my-db:\n    type: sqlite\n    path: a.db\n",
     r"towpath.yaml:1:1: connections: connection name 'my-db' must be a SQL identifier \(letters, digits, _\)$"),
    ("connections:\n  pg:\n    type: postgres\n    user: u\n    database: d\n    password: {env: A, file: b}\n",
     r"towpath.yaml:6:5: connections.pg.password: expected exactly one of 'env' .* or 'file' \(a path\)$"),
    ("connections:\n  pg:\n    type: postgres\n    user: u\n    database: d\n    port: 99999\n",
     r"towpath.yaml:6:5: connections.pg.port: Input should be less than 65536 \(got 99999\)"),
    ("connections:\n  k:\n    type: kv\n    tables:\n      d: {namespce: a, schema: b}\n",
     r"towpath.yaml:5:\d+: connections.k.tables.d.namespce: unknown field 'namespce'; did you mean 'namespace'\?"),
])
def test_a_mistake_is_reported_where_it_is(tmp_path: Path, yaml: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load(tmp_path, yaml)


def test_every_kind_parses(tmp_path: Path) -> None:
    load(tmp_path, """connections:
  a: {type: postgres, user: u, database: d, schema: billing, password: {env: X}}
  b: {type: mariadb, user: u, database: d, password: {file: secret.txt}}
  c: {type: mysql, host: db, port: 3307, user: u, database: d}
  d: {type: sqlite, path: app.db}
  e: {type: kv, url: "redis://127.0.0.1:6379/0", tables: {daily: {schema: s.json}}}
  f: {type: iceberg, catalog: {type: rest, uri: "https://catalog.example.com"}}
""")
    config = load_project_config(tmp_path)
    assert [type(c).__name__ for c in config.connections.values()] == [
        "PostgresConnection", "MySqlConnection", "MySqlConnection", "SqliteConnection", "KvConnection",
        "IcebergConnection"]
    assert config.connections["a"].default_schema() == "billing"  # type: ignore[attr-defined]
