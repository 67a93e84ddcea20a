"""The source table of one CDC test, its project and spec, and checks of the targets against the source."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa

import services
from towpath.cdc import Position
from towpath.cdc.changes import ChangeBatch, ChangeBuffer
from towpath.project import Project

SRC = str(Path(__file__).resolve().parents[2] / "src")


@dataclass
class CdcCase:
    """One test's table in the source, its project and its `*.cdc.yaml`."""

    server: services.PostgresServer
    project: Project
    name: str
    spec: Path

    @property
    def table(self) -> str:
        return self.name

    def sql(self, *statements: str, params: Any = None) -> None:
        with psycopg.connect(self.server.dsn, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement, params)

    def source_rows(self) -> dict[int, dict[str, Any]]:
        with psycopg.connect(self.server.dsn) as conn:
            cur = conn.execute(f"SELECT * FROM {self.name} ORDER BY id")
            names = [d.name for d in cur.description or []]
            return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}

    def lake_rows(self) -> dict[int, dict[str, Any]]:
        table = Project(self.project.root).catalog.read(f"lake.{self.name}")
        return {row["id"]: row for row in table.to_pylist()}

    def search_rows(self) -> dict[int, dict[str, Any]]:
        from towpath.search import open_index

        docs = open_index(self.project.root, self.name).documents()
        return {int(k): v for k, v in docs.items()}

    def kv_rows(self, url: str = "embedded") -> dict[int, dict[str, Any]]:
        """The KV namespace in the store at `url`, decoded with the schema the job recorded: key -> key and values."""
        from towpath.kv import open_store
        from towpath.protobuf import Decoder, ProtoSchema, compile_schema

        root = self.project.root
        schema = ProtoSchema.from_json(json.loads((root / ".towpath" / "cdc" / f"{self.name}.schema.json").read_text()))
        decoder = Decoder(compile_schema(schema))
        rows: dict[int, dict[str, Any]] = {}
        with open_store(url, root=root) as store:
            cursor: str | None = None
            while True:
                page, cursor = store.scan(self.name, cursor, 1000)
                if page:
                    keys = decoder.decode_keys([k for k, _ in page]).to_pylist()
                    values = decoder.decode_values([v for _, v in page]).to_pylist()
                    for k, v in zip(keys, values, strict=True):
                        rows[k["id"]] = {**k, **v}
                if cursor is None:
                    return rows

    def slot_flushed(self) -> str | None:
        with psycopg.connect(self.server.dsn) as conn:
            row = conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                               (f"towpath_{self.name}",)).fetchone()
        return row[0] if row else None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": SRC}
        proc = subprocess.run([sys.executable, "-m", "towpath.cli.main", "-C", str(self.project.root), *args],
                              check=False, capture_output=True, text=True, env=env, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"towpath {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
        return subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "-C", str(self.project.root), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def report(self) -> dict[str, Any]:
        path = self.project.root / ".towpath" / "cdc" / f"{self.name}.json"
        return json.loads(path.read_text()) if path.exists() else {}


def assert_targets_equal_source(case: CdcCase) -> None:
    """The lake table, the KV namespace and the search index each hold exactly the source's rows, value for value."""
    source = case.source_rows()
    lake = case.lake_rows()
    assert sorted(lake.keys() - source.keys()) == [] and sorted(source.keys() - lake.keys()) == []
    for key, row in source.items():
        assert lake[key] == row, key
    kv = case.kv_rows()
    assert sorted(kv.keys() - source.keys()) == [] and sorted(source.keys() - kv.keys()) == []
    for key, row in source.items():
        assert kv[key] == row, key
    docs = case.search_rows()
    assert sorted(docs.keys() - source.keys()) == [] and sorted(source.keys() - docs.keys()) == []
    for key, row in source.items():
        doc = docs[key]
        assert doc["name"] == row["name"] and doc.get("city") == row["city"], key
        assert (doc.get("score") is None) == (row["score"] is None) and (
            row["score"] is None or abs(doc["score"] - float(row["score"])) < 1e-9), key


class Writer(threading.Thread):
    """Random inserts, updates and deletes over a small key space, in small transactions, until stopped.

    `growing`: only inserts, of new keys above the key space (as into a table with a sequence key): a batch
    then touches no data file, so each adds files of its own, for compaction.
    """

    def __init__(self, case: CdcCase, keys: int = 200, seed: int = 7, growing: bool = False) -> None:
        super().__init__(daemon=True)
        self.case, self.keys, self.rand, self.growing = case, keys, random.Random(seed), growing
        self.next_key = keys
        self.stop = threading.Event()
        self.transactions = 0

    def run(self) -> None:
        with psycopg.connect(self.case.server.dsn, autocommit=False) as conn:
            while not self.stop.is_set():
                for _ in range(self.rand.randint(1, 5)):
                    key, what = self.rand.randint(1, self.keys), self.rand.random()
                    if self.growing:
                        what, self.next_key = 0.0, self.next_key + 1
                        key = self.next_key
                    if what < 0.5:
                        conn.execute(f"INSERT INTO {self.case.name} (id, name, city, score) VALUES (%s, %s, %s, %s) "
                                     "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, score = EXCLUDED.score",
                                     (key, f"patient {key} v{self.transactions}", self.rand.choice(["Austin", None]),
                                      Decimal(self.rand.randint(0, 99999)) / 100))
                    elif what < 0.8:
                        conn.execute(f"UPDATE {self.case.name} SET city = %s, updated = now() WHERE id = %s",
                                     (f"city{self.transactions}", key))
                    else:
                        conn.execute(f"DELETE FROM {self.case.name} WHERE id = %s", (key,))
                conn.commit()
                self.transactions += 1


def seed(case: CdcCase, rows: int) -> None:
    case.sql(f"INSERT INTO {case.name} (id, name, city, score) SELECT g, 'patient ' || g, "
             f"CASE WHEN g % 3 = 0 THEN 'Boston' END, g * 1.25 FROM generate_series(1, {rows}) g")


def kill_mid_stream(case: CdcCase, times: int = 3) -> None:
    """Start the job `times` times and kill -9 each once it has applied a batch of its own (mid-stream)."""
    for _ in range(times):
        proc = case.popen("cdc", "run", str(case.spec))
        before = case.report().get("batches", 0) if case.report().get("pid") == proc.pid else 0
        while True:
            report = case.report()
            if report.get("pid") == proc.pid and report.get("batches", 0) > before:
                break
            assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def change_batch(schema: pa.Schema, commit: int, *changes: tuple[int, list[str | None]]) -> ChangeBatch:
    """A decoded batch of `(op, row)` changes, all in source commit `commit`, as a source hands it to targets."""
    buffer = ChangeBuffer(schema)
    for seq, (op, row) in enumerate(changes):
        buffer.add(op, row, commit, seq)
    buffer.last_complete = Position(commit, len(changes) - 1)
    return buffer.to_batch(f"lsn {commit}")
