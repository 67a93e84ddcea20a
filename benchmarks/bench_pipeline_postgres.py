"""Benchmark: PostgreSQL <-> Parquet through towpath's connectors, against psql's COPY to/from CSV.

Starts a throwaway PostgreSQL (tests/services/), loads an 8-column table of
`--rows` rows (5 million by default), then times:

- read:  PostgresSource -> ParquetSink        vs  psql \\copy table TO a CSV file
- write: ParquetSource  -> PostgresSink       vs  psql \\copy table FROM that CSV file

and prints rows/s, the ratio to the psql baseline and this process's peak RSS
as a Markdown table. Run: `python benchmarks/bench_pipeline_postgres.py [--rows N]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import psycopg

import services
from towpath.connectors import ParquetSink, ParquetSource, PostgresSink, PostgresSource
from towpath.pipeline import ProcessorContext

LOAD = """
CREATE TABLE bench AS
SELECT g::bigint AS id, (g % 1000)::int AS customer, (g * 0.01)::numeric(12, 2) AS amount,
       'item-' || (g % 5000) AS sku, g % 3 = 0 AS returned, date '2020-01-01' + (g % 1500) AS day,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second' AS at, md5(g::text) AS note
FROM generate_series(1, {rows}) AS g
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def psql(pg: services.PostgresServer, command: str) -> None:
    env = {**os.environ, "PGPASSWORD": pg.password}
    subprocess.run(["psql", "-q", "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-d", pg.dbname, "-c", command],
                   check=True, env=env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args(argv)
    rows = args.rows
    with services.postgres_server() as pg, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(LOAD.format(rows=int(rows)))
            conn.execute("VACUUM ANALYZE bench")
        parquet, csv = Path(tmp) / "bench.parquet", Path(tmp) / "bench.csv"

        def read() -> None:
            source, sink = PostgresSource(pg.dsn, table="bench"), ParquetSink(str(parquet))
            source.open(ProcessorContext("pg")), sink.open(ProcessorContext("pq"))
            for batch in source.read():
                sink.write(batch)
            source.close(None), sink.close(None)

        def write() -> None:
            source, sink = ParquetSource(str(parquet)), PostgresSink(pg.dsn, "bench_back")
            source.open(ProcessorContext("pq")), sink.open(ProcessorContext("pg"))
            for batch in source.read():
                sink.write(batch)
            source.close(None), sink.close(None)

        t_read = timed(read)
        t_copy_out = timed(lambda: psql(pg, f"\\copy bench TO '{csv}' WITH (FORMAT csv)"))
        t_write = timed(write)
        psql(pg, "CREATE TABLE bench_csv (LIKE bench)")
        t_copy_in = timed(lambda: psql(pg, f"\\copy bench_csv FROM '{csv}' WITH (FORMAT csv)"))
        with psycopg.connect(pg.dsn) as conn:
            back = conn.execute("SELECT count(*), sum(id), sum(amount) FROM bench_back").fetchone()
            orig = conn.execute("SELECT count(*), sum(id), sum(amount) FROM bench").fetchone()
        assert back == orig, f"round trip differs: {back} != {orig}"

    print(f"\n### PostgreSQL <-> Parquet, {rows:,} rows x 8 columns\n")
    print("| step | towpath rows/s | psql COPY CSV rows/s | towpath / psql |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| table -> file (PostgresSource -> ParquetSink) | {rows / t_read:,.0f} | {rows / t_copy_out:,.0f} "
          f"| {t_copy_out / t_read:.2f} |")
    print(f"| file -> table (ParquetSource -> PostgresSink) | {rows / t_write:,.0f} | {rows / t_copy_in:,.0f} "
          f"| {t_copy_in / t_write:.2f} |")
    print(f"\npeak RSS of the towpath process: {peak_rss_mib():,.0f} MiB (psql runs in its own process)")


if __name__ == "__main__":
    main()
