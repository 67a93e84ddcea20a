"""Benchmark: do DuckDB's `httpfs` and `iceberg` extension wheels make lake reads faster?

httpfs, on S3: a project
whose warehouse is `s3://...` on a local S3 (moto, tests/services/) gets a
`--rows`-row table (3 million by default, several files); the same aggregate
with a selective filter is then timed, in the same run and alternating,
`--repeat` times each:

- pyarrow: what `DuckDBEngine` did for an object-store warehouse before — the
  catalog's planned files as a `pyarrow.dataset` on the catalog's S3 file
  system, registered in DuckDB (projection and filter pushdown through Arrow);
- httpfs: the same planned files in DuckDB's `read_parquet([...s3://...])`
  with httpfs loaded from its wheel and the endpoint set as a DuckDB secret;
- towpath: `Project.query`, which now binds S3 tables to httpfs that way.

iceberg, locally: the same aggregate on a local table (`--rows`, partitioned by
year, five commits) through towpath's read (pyiceberg plans the pruned files,
DuckDB reads them with `read_parquet`) against DuckDB's own `iceberg_scan` of
the table's metadata file. The iceberg wheel is not a towpath dependency: give
`--iceberg-path DIR` where `pip install --target DIR duckdb-extension-iceberg==1.5.5
duckdb-extension-avro==1.5.5` put it, or that half is skipped.

Prints the medians and the ratios as Markdown tables.
Run: `python benchmarks/bench_duckdb_extensions.py [--rows N] [--repeat N] [--iceberg-path DIR]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import boto3
import duckdb
import numpy as np
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue

import services
from towpath.engines.duckdb import remote_dataset
from towpath.engines.extensions import load_extension
from towpath.project import Project

QUERY = "SELECT year, count(*) AS n, sum(amount) AS paid FROM claims.history WHERE patient_id < {cut} GROUP BY year"
RAW = "SELECT year, count(*) AS n, sum(amount) AS paid FROM read_parquet({files}) WHERE patient_id < {cut} GROUP BY year"


def write_claims(project: Project, rows: int, *, partitioned: bool = False) -> None:
    by_year = " PARTITIONED BY (year)" if partitioned else ""
    project.engine.run_script(
        f"CREATE TABLE claims.history (patient_id INT, year INT, amount DOUBLE) USING iceberg{by_year}")
    rng = np.random.default_rng(3)
    step = max(rows // 5, 1)
    for start in range(0, rows, step):
        n = min(step, rows - start)
        project.engine.write("claims.history", pa.table({
            "patient_id": pa.array(rng.integers(1, 1_000_000, n, dtype=np.int32)),
            "year": pa.array(rng.integers(2019, 2027, n, dtype=np.int32)),
            "amount": pa.array(rng.gamma(2.0, 100.0, n)),
        }), mode="append")


def alternate(runs: dict[str, Callable[[], pa.Table]], repeat: int) -> tuple[dict[str, float], dict[str, pa.Table]]:
    """Each run once to warm up, then `repeat` rounds in turn: medians and the last results."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, pa.Table] = {}
    for _ in range(repeat):
        for name, fn in runs.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Counts exactly, sums of doubles to 1e-9 (their last bits change with the order of the rows)."""
    b = b.cast(a.schema)
    return a.column("n").equals(b.column("n")) and all(
        abs(x - y) <= 1e-9 * abs(x) for x, y in zip(a.column("paid").to_pylist(), b.column("paid").to_pylist(), strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--iceberg-path", type=Path, default=None)
    args = parser.parse_args(argv)
    bench_httpfs(args.rows, args.repeat)
    if args.iceberg_path is not None:
        bench_iceberg(args.rows, args.repeat, args.iceberg_path)


def bench_httpfs(rows: int, repeat: int) -> None:
    with services.s3_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        root = Path(tmp) / "proj"
        root.mkdir()
        (root / "towpath.yaml").write_text(
            f"name: s3bench\nwarehouse: s3://{bucket}/warehouse\ncatalog:\n  type: sql\n  properties:\n"
            f"    s3.endpoint: {endpoint}\n    s3.access-key-id: testing\n    s3.secret-access-key: testing\n"
            "    s3.region: us-east-1\n")
        project = Project(root)
        write_claims(project, rows)
        cut = 50_000
        files = [t.file.file_path for t in project.catalog.table("claims.history").scan().plan_files()]
        host = endpoint.split("://", 1)[1]

        plan = project.catalog.plan_scan("claims.history", AlwaysTrue(), None)
        before = duckdb.connect()
        before.register("history", remote_dataset(project.catalog, plan))

        def via_pyarrow() -> pa.Table:  # what DuckDBEngine did for an s3:// warehouse before httpfs
            return before.sql(QUERY.format(cut=cut).replace("claims.history", "history")).to_arrow_table().sort_by("year")

        def via_towpath() -> pa.Table:
            return project.query(QUERY.format(cut=cut)).sort_by("year")

        con = duckdb.connect()
        load_extension(con, "httpfs")
        con.execute(f"CREATE SECRET bench (TYPE s3, KEY_ID 'testing', SECRET 'testing', REGION 'us-east-1', "
                    f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
        listing = "[" + ", ".join(f"'{f}'" for f in files) + "]"

        def via_httpfs() -> pa.Table:
            return con.sql(RAW.format(files=listing, cut=cut)).to_arrow_table().sort_by("year")

        medians, results = alternate({"pyarrow": via_pyarrow, "httpfs": via_httpfs, "towpath": via_towpath}, repeat)
    base, native = medians["pyarrow"], medians["httpfs"]
    same = same_rows(results["pyarrow"], results["httpfs"]) and same_rows(results["pyarrow"], results["towpath"])
    print(f"httpfs: {rows:,} rows in {len(files)} files on moto S3, ~5% selected; median of {repeat}\n")
    print("| read | seconds | ratio to pyarrow's S3 (before) |")
    print("| --- | ---: | ---: |")
    print(f"| pyarrow dataset on the catalog's S3 file system | {base:.3f} | 1.00x |")
    print(f"| DuckDB httpfs `read_parquet(s3://...)` | {native:.3f} | {native / base:.2f}x |")
    print(f"| `Project.query` (plans the scan on S3 each time, then httpfs) | {medians['towpath']:.3f} | {medians['towpath'] / base:.2f}x |")
    print(f"\nresults equal: {same}\n")


def bench_iceberg(rows: int, repeat: int, wheels: Path) -> None:
    sys.path.insert(0, str(wheels))
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.init(Path(tmp) / "proj", name="icebench")
        write_claims(project, rows, partitioned=True)
        metadata = project.catalog.table("claims.history").metadata_location
        sql = QUERY.format(cut=50_000) + " ORDER BY year"
        con = duckdb.connect()
        load_extension(con, "iceberg")
        scan = sql.replace("FROM claims.history", f"FROM iceberg_scan('{metadata}')")
        medians, results = alternate({
            "towpath": lambda: project.query(sql),
            "iceberg_scan": lambda: con.sql(scan).to_arrow_table(),
        }, repeat)
    print(f"iceberg: {rows:,} local rows, partitioned by year, 5 snapshots, ~5% selected; median of {repeat}\n")
    print("| read | seconds | ratio to towpath |")
    print("| --- | ---: | ---: |")
    print(f"| towpath: pyiceberg plans the pruned files, `read_parquet` | {medians['towpath']:.3f} | 1.00x |")
    print(f"| DuckDB `iceberg_scan(metadata.json)` | {medians['iceberg_scan']:.3f} | "
          f"{medians['iceberg_scan'] / medians['towpath']:.2f}x |")
    print(f"\nresults equal: {same_rows(results['towpath'], results['iceberg_scan'])}")


if __name__ == "__main__":
    main()
