"""`engine: spark` writes of rows generated in Spark: the executors' write against the old collect-to-driver path.

Each leg runs in a new process with its own JVM (`tests/spark/big_write.py`),
`local[2]`, and writes `--rows` rows (10M by default, 5 identity partitions)
with `INSERT OVERWRITE` into a fresh project:

- distributed, with `spark.driver.maxResultSize=2m`: the executors write the
  Parquet files, the driver commits their paths and statistics;
- collect, with `spark.driver.maxResultSize=2m`: the path `engine: spark` had
  before (the result collected as Arrow with `toArrow()`, then `Catalog.write`);
  expected to fail, which is the point;
- collect, with `spark.driver.maxResultSize=0` (unlimited) and Spark's default 1g
  driver, then a 4g driver: the old path's time, the baseline (it needs the whole
  result in the driver's memory).

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


def leg(rows: int, max_result_size: str, path: str, driver_memory: str) -> dict[str, Any]:
    """One write in a new process: its JSON line (`seconds`, `rows`, or `error`; a crashed process is an error)."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, str(WORKER), str(Path(tmp) / "p"), str(rows), max_result_size, path, driver_memory],
            capture_output=True, text=True, check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or [f"exit {done.returncode}"]
        return {"error": f"the process died: {last[0]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    legs = [
        ("distributed (executors write)", "2m", "1g", "distributed"),
        ("collect to the driver (old path)", "2m", "1g", "collect"),
        ("collect to the driver (old path)", "0", "1g", "collect"),
        ("collect to the driver (old path)", "0", "4g", "collect"),
    ]
    results = [(name, limit, memory, leg(args.rows, limit, path, memory)) for name, limit, memory, path in legs]
    baseline = next((r["seconds"] for *_, r in results[2:] if "rows" in r), None)
    print(f"{args.rows:,} rows, local[2], INSERT OVERWRITE into 5 identity partitions\n")
    print("| path | maxResultSize | driver memory | result | seconds | rows/s | vs old path |")
    print("|---|---|---|---|---:|---:|---:|")
    for name, limit, memory, result in results:
        if "error" in result:
            print(f"| {name} | {limit} | {memory} | fails: {result['error'][:100]} | – | – | – |")
            continue
        seconds = result["seconds"]
        ratio = f"{seconds / baseline:.2f}x" if baseline else "–"
        print(f"| {name} | {limit} | {memory} | {result['rows']:,} rows | {seconds:.1f} | {result['rows'] / seconds:,.0f} "
              f"| {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
