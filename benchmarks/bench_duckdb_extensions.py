"""Benchmark: reading a lake table on S3 — pyarrow's S3 file system (today) vs DuckDB's httpfs extension.

Decides whether the `duckdb-extension-httpfs` wheel earns a place: a project
whose warehouse is `s3://...` on a local S3 (moto, tests/services/) gets a
`--rows`-row table (3 million by default, several files); the same aggregate
with a selective filter is then timed, in the same run and alternating,
`--repeat` times each:

- pyarrow: what `DuckDBEngine` does for an object-store warehouse — the
  catalog's planned files as a `pyarrow.dataset` on the catalog's S3 file
  system, registered in DuckDB (projection and filter pushdown through Arrow);
- httpfs: the same planned files in DuckDB's `read_parquet([...s3://...])`
  with httpfs loaded from its wheel and the endpoint set as a DuckDB secret.

Prints the medians and the ratio as a Markdown table.
Run: `python benchmarks/bench_duckdb_s3.py [--rows N] [--repeat N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import boto3
import duckdb
import numpy as np
import pyarrow as pa

import services
from towpath.engines.extensions import load_extension
from towpath.project import Project

QUERY = "SELECT year, count(*) AS n, sum(amount) AS paid FROM claims.history WHERE patient_id < {cut} GROUP BY year"
RAW = "SELECT year, count(*) AS n, sum(amount) AS paid FROM read_parquet({files}) WHERE patient_id < {cut} GROUP BY year"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    import tempfile

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
        project.engine.run_script("CREATE TABLE claims.history (patient_id INT, year INT, amount DOUBLE) USING iceberg")
        rng = np.random.default_rng(3)
        step = 1_000_000
        for start in range(0, args.rows, step):
            n = min(step, args.rows - start)
            project.engine.write("claims.history", pa.table({
                "patient_id": pa.array(rng.integers(1, 1_000_000, n, dtype=np.int32)),
                "year": pa.array(rng.integers(2019, 2027, n, dtype=np.int32)),
                "amount": pa.array(rng.gamma(2.0, 100.0, n)),
            }), mode="append")
        cut = 50_000
        files = [t.file.file_path for t in project.catalog.table("claims.history").scan().plan_files()]
        host = endpoint.split("://", 1)[1]

        def via_pyarrow() -> pa.Table:
            return project.engine.query(QUERY.format(cut=cut)).sort_by("year")

        con = duckdb.connect()
        load_extension(con, "httpfs")
        con.execute(f"CREATE SECRET bench (TYPE s3, KEY_ID 'testing', SECRET 'testing', REGION 'us-east-1', "
                    f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
        listing = "[" + ", ".join(f"'{f}'" for f in files) + "]"

        def via_httpfs() -> pa.Table:
            return con.sql(RAW.format(files=listing, cut=cut)).to_arrow_table().sort_by("year")

        via_pyarrow(), via_httpfs()
        times: dict[str, list[float]] = {"pyarrow": [], "httpfs": []}
        results = {}
        for _ in range(args.repeat):
            for name, fn in (("pyarrow", via_pyarrow), ("httpfs", via_httpfs)):
                start = time.perf_counter()
                results[name] = fn()
                times[name].append(time.perf_counter() - start)
    base, native = statistics.median(times["pyarrow"]), statistics.median(times["httpfs"])
    a, b = results["pyarrow"], results["httpfs"].cast(results["pyarrow"].schema)
    # sums of doubles differ in the last bits with the order of the rows: compare counts exactly, sums to 1e-9
    same = a.column("n").equals(b.column("n")) and all(
        abs(x - y) <= 1e-9 * abs(x) for x, y in zip(a.column("paid").to_pylist(), b.column("paid").to_pylist(), strict=True))
    print(f"{args.rows:,} rows in {len(files)} files on moto S3, ~5% selected; median of {args.repeat}\n")
    print("| read | seconds | ratio to pyarrow's S3 (today) |")
    print("| --- | ---: | ---: |")
    print(f"| pyarrow dataset on the catalog's S3 file system | {base:.3f} | 1.00x |")
    print(f"| DuckDB httpfs `read_parquet(s3://...)` | {native:.3f} | {native / base:.2f}x |")
    print(f"\nresults equal: {same}")


if __name__ == "__main__":
    main()
