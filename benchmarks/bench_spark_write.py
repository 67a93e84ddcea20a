"""`engine: spark` writes of rows generated in Spark: the executors' write against the old collect-to-driver path.

Each leg runs in a new process with its own JVM (`tests/spark/big_write.py`),
`local[2]`, and writes `--rows` rows (10M by default, 5 identity partitions)
with `INSERT OVERWRITE` into a fresh project:

- distributed, with `spark.driver.maxResultSize=2m`: the executors write the
  Parquet files, the driver commits their paths and statistics;
- collect, with `spark.driver.maxResultSize=2m`: the path `engine: spark` had
  before (the result collected as Arrow with `toArrow()`, then `Catalog.write`);
  expected to fail, which is the point;
- collect, with `spark.driver.maxResultSize=0` (unlimited): the old path's time,
  the baseline (it needs the whole result in the driver's memory).

Times are from the INSERT's start to its commit (the JVM is already up).
Run: `python -m benchmarks.bench_spark_write [--rows N]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "spark" / "big_write.py"


def leg(rows: int, max_result_size: str, path: str) -> dict[str, Any]:
    """One write in a new process: its JSON line (`seconds`, `rows`, or `error`)."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, str(WORKER), str(Path(tmp) / "p"), str(rows), max_result_size, path],
            capture_output=True, text=True, check=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    legs = [
        ("distributed (executors write)", "2m", "distributed"),
        ("collect to the driver (old path)", "2m", "collect"),
        ("collect to the driver (old path), no limit", "0", "collect"),
    ]
    results = [(name, limit, leg(args.rows, limit, path)) for name, limit, path in legs]
    baseline = results[2][2].get("seconds")
    print(f"{args.rows:,} rows, local[2], INSERT OVERWRITE into 5 identity partitions\n")
    print("| path | maxResultSize | result | seconds | rows/s | vs old path |")
    print("|---|---|---|---:|---:|---:|")
    for name, limit, result in results:
        if "error" in result:
            print(f"| {name} | {limit} | fails: {result['error'][:90]} | – | – | – |")
            continue
        seconds = result["seconds"]
        ratio = f"{seconds / baseline:.2f}x" if baseline else "–"
        print(f"| {name} | {limit} | {result['rows']:,} rows | {seconds:.1f} | {result['rows'] / seconds:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
