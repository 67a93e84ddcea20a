"""Arrow batches into MySQL/MariaDB: `MySqlSink` against the same CSV loaded by hand, in the same run.

Starts a throwaway MariaDB (tests/services/) and writes N rows x 5 columns (id, name, amount,
day, flag) three ways: `MySqlSink` append (Arrow-written CSV through `LOAD DATA LOCAL INFILE`,
one statement per batch), a hand-written baseline (pyarrow writes one CSV, pymysql runs one
`LOAD DATA LOCAL INFILE`), and the row path `MySqlSink` keeps for `merge` (`executemany`).
Each target table is checked for its row count.

Usage: python -m benchmarks.bench_pipeline_mysql [--rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pymysql

import services
from towpath.connectors import MySqlSink
from towpath.pipeline import ProcessorContext


def data(rows: int) -> pa.Table:
    ids = pa.array(range(rows), pa.int64())
    return pa.table({
        "id": ids, "name": pc.cast(ids, pa.string()), "amount": pc.divide(pc.cast(ids, pa.float64()), 7.0),
        "day": pa.array([dt.date(2024, 1, 1)] * rows, pa.date32()), "flag": pc.equal(pc.bit_wise_and(ids, 1), 0),
    })


def towpath_sink(server: services.MySqlServer, table: str, rows: pa.Table, mode: str) -> float:
    sink = MySqlSink(server.dsn, table, mode=mode, key=["id"] if mode == "merge" else ())
    sink.open(ProcessorContext(name=table))
    started = time.perf_counter()
    for batch in rows.to_batches(max_chunksize=65_536):
        sink.write(batch)
    sink.close(None)
    return time.perf_counter() - started


def connect(server: services.MySqlServer) -> pymysql.Connection:
    return pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                           database=server.dbname, local_infile=True, autocommit=False)


def hand_written(server: services.MySqlServer, table: str, rows: pa.Table) -> float:
    conn = connect(server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id BIGINT, name TEXT, amount DOUBLE, day DATE, flag TINYINT)")
    conn.commit()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        text = rows.set_column(4, "flag", pc.cast(rows.column("flag"), pa.int8()))
        pacsv.write_csv(text, path, pacsv.WriteOptions(include_header=False))
        with conn.cursor() as cur:
            cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} FIELDS TERMINATED BY ',' "
                        "OPTIONALLY ENCLOSED BY '\"'")
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def count(server: services.MySqlServer, table: str) -> int:
    conn = connect(server)
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        (n,) = cur.fetchone()
    conn.close()
    return int(n)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if services.mariadb_binaries() is None:
        print(f"MariaDB is not installed; skipped ({services.MARIADB_INSTALL_HINT})")
        return
    rows = data(args.rows)
    row_path_rows = rows.slice(0, min(args.rows, 200_000))
    with services.mysql_server() as server:
        results = [
            ("`MySqlSink` append (LOAD DATA per batch)", args.rows, towpath_sink(server, "t_sink", rows, "append")),
            ("hand-written: one CSV, one LOAD DATA", args.rows, hand_written(server, "t_hand", rows)),
            ("`MySqlSink` merge (executemany, the row path)", row_path_rows.num_rows,
             towpath_sink(server, "t_merge", row_path_rows, "merge")),
        ]
        for table, (_, n, _) in zip(["t_sink", "t_hand", "t_merge"], results, strict=True):
            assert count(server, table) == n, table
    baseline = results[1][2] / results[1][1]
    print("| variant | rows | seconds | rows/s | vs hand-written |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, n, seconds in results:
        print(f"| {name} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {seconds / n / baseline:.2f}x |")


if __name__ == "__main__":
    main()
