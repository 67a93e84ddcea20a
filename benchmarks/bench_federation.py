"""Benchmark: one federated statement through `towpath query` against the same query by hand on DuckDB.

Starts a throwaway PostgreSQL (tests/services/) with a `--patients`-row table
(1 million by default), writes a `--claims`-row lake table (10 million) to an
Iceberg table of a fresh project and a KV namespace of one device summary per
patient, then times, in the same run and alternating, `--repeat` times each:

- towpath: `Project.query(SQL)` on a fresh project object (parse, split, ATTACH,
  plan the lake scan through the catalog, KV key lookups, run);
- by hand: a fresh DuckDB with `postgres_scanner` attached by hand, the
  patients that pass the filter read into Arrow, their device summaries fetched
  with one `get_many` and decoded, the lake table's files from the catalog's
  scan plan in `read_parquet([...])`, and the same join written in DuckDB SQL.

Prints the median seconds of each, the ratio (target: towpath within 1.3x) and
whether the two results are equal, as a Markdown table.
Run: `python benchmarks/bench_federation.py [--patients N] [--claims N] [--repeat N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import duckdb
import numpy as np
import psycopg
import pyarrow as pa

import services
from towpath.engines.extensions import load_extension
from towpath.project import Project

LOAD = """
CREATE TABLE patients AS
SELECT g AS id, 'patient-' || g AS name, (g % 90) AS age, (ARRAY['CA','NY','TX','WA'])[g % 4 + 1] AS state,
       md5(g::text) AS notes
FROM generate_series(1, {rows}) AS g;
ALTER TABLE patients ADD PRIMARY KEY (id);
"""

TOWPATH_SQL = """
SELECT p.state, count(*) AS claims, round(sum(h.amount), 2) AS paid, round(avg(d.resting_pulse), 3) AS pulse
FROM clinic.patients p
JOIN devices.daily d ON d.patient_id = p.id
JOIN claims.history h ON h.patient_id = p.id
WHERE p.age > 80 AND h.year >= 2024
GROUP BY p.state ORDER BY p.state
"""

HAND_PATIENTS = "SELECT id, state FROM clinic.public.patients WHERE age > 80"

HAND_SQL = """
SELECT p.state, count(*) AS claims, round(sum(h.amount), 2) AS paid, round(avg(d.resting_pulse), 3) AS pulse
FROM patients p
JOIN devices d ON d.patient_id = p.id
JOIN read_parquet({files}) h ON h.patient_id = p.id
WHERE h.year >= 2024
GROUP BY p.state ORDER BY p.state
"""

SCHEMA_FILE = "device.schema.json"


def make_project(root: Path, pg: services.PostgresServer, claims: int, patients: int) -> Project:
    project = Project.init(root, name="bench")
    with (root / "towpath.yaml").open("a") as f:
        f.write(f"connections:\n  clinic:\n    type: postgres\n    port: {pg.port}\n    user: {pg.user}\n"
                f"    password: {{env: BENCH_PG_PASSWORD}}\n    database: {pg.dbname}\n"
                f"  devices:\n    type: kv\n    tables:\n      daily: {{namespace: devices, schema: {SCHEMA_FILE}}}\n")
    project = Project(root)
    load_devices(project, patients)
    project.engine.run_script("CREATE TABLE claims.history (patient_id INT, year INT, amount DOUBLE) USING iceberg")
    rng = np.random.default_rng(7)
    step = 2_000_000
    for start in range(0, claims, step):
        n = min(step, claims - start)
        project.engine.write("claims.history", pa.table({
            "patient_id": pa.array(rng.integers(1, patients + 1, n, dtype=np.int32)),
            "year": pa.array(rng.integers(2019, 2027, n, dtype=np.int32)),
            "amount": pa.array(np.round(rng.gamma(2.0, 120.0, n), 2)),
        }), mode="append")
    return project


def load_devices(project: Project, patients: int) -> None:
    """One device summary per patient in the embedded KV store, encoded with its generated schema."""
    from towpath.kv import open_store
    from towpath.protobuf import Encoder, generate_schema

    ids = np.arange(1, patients + 1, dtype=np.int32)
    devices = pa.table({"patient_id": ids, "resting_pulse": pa.array(55 + ids % 40, pa.int32()),
                        "steps": pa.array(ids % 12000, pa.int32())})
    schema = generate_schema(devices.schema, ["patient_id"], package="bench.devices")
    (project.root / SCHEMA_FILE).write_text(json.dumps(schema.to_json()))
    encoder = Encoder(schema)
    with open_store("embedded", root=project.root) as store:
        store.create_namespace("devices")
        for batch in devices.to_batches(max_chunksize=200_000):
            store.put_batch("devices", encoder.encode_keys(batch), encoder.encode_values(batch))


def by_hand(project: Project, pg: services.PostgresServer) -> pa.Table:
    """The same statement by hand: the scanner attached, the planned files, one get_many for the keys."""
    from towpath.kv import open_store
    from towpath.protobuf import Decoder, Encoder, ProtoSchema, compile_schema

    files = [task.file.file_path for task in project.catalog.table("claims.history").scan().plan_files()]
    con = duckdb.connect()
    load_extension(con, "postgres_scanner")
    con.execute(f"ATTACH 'host={pg.host} port={pg.port} user={pg.user} password={pg.password} dbname={pg.dbname}'"
                " AS clinic (TYPE postgres, READ_ONLY)")
    patients = con.sql(HAND_PATIENTS).to_arrow_table()
    schema = ProtoSchema.from_json(json.loads((project.root / SCHEMA_FILE).read_text()))
    keys = patients.select(["id"]).rename_columns(["patient_id"]).cast(schema.key_schema)
    with open_store("embedded", root=project.root) as store:
        found = pa.array(store.get_many("devices", Encoder(schema).encode_keys(keys)), pa.binary())
    values = Decoder(compile_schema(schema)).decode_values(found.filter(found.is_valid()).to_pylist())
    devices = pa.Table.from_arrays([keys.filter(found.is_valid()).column(0), *values.columns],
                                   names=["patient_id", *values.column_names])
    con.register("patients", patients)
    con.register("devices", devices)
    listing = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    result = con.sql(HAND_SQL.format(files=listing)).to_arrow_table()
    con.close()
    return result


def timed(fn: Callable[[], pa.Table]) -> tuple[float, pa.Table]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with services.postgres_server() as pg, tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_PG_PASSWORD"] = pg.password
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(LOAD.format(rows=int(args.patients)))
            conn.execute("VACUUM ANALYZE patients")
        project = make_project(Path(tmp) / "proj", pg, args.claims, args.patients)

        def towpath() -> pa.Table:
            return Project(project.root).query(TOWPATH_SQL)

        def hand() -> pa.Table:
            return by_hand(project, pg)

        towpath(), hand()  # warm the OS page cache and the extension load for both
        hand_times, tow_times = [], []
        for _ in range(args.repeat):  # alternate, so drift on a shared machine hits both alike
            t, hand_result = timed(hand)
            hand_times.append(t)
            t, tow_result = timed(towpath)
            tow_times.append(t)
        t_hand, t_tow = statistics.median(hand_times), statistics.median(tow_times)
    equal = tow_result.equals(hand_result.cast(tow_result.schema))
    print(f"PostgreSQL {args.patients:,} rows (filtered on the server) joined with a {args.claims:,}-row lake table "
          f"and a {args.patients:,}-key KV namespace (looked up by key); median of {args.repeat}\n")
    print("| run | seconds | ratio to by hand |")
    print("| --- | ---: | ---: |")
    print(f"| DuckDB by hand (scanner attached, planned files, get_many) | {t_hand:.3f} | 1.00x |")
    print(f"| towpath query | {t_tow:.3f} | {t_tow / t_hand:.2f}x |")
    print(f"\nresults equal: {equal}")


if __name__ == "__main__":
    main()
