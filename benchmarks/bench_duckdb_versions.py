"""The DuckDB pin decision: the seed workflow on DuckDB 1.5.5 against 2.0, in one run.

DuckDB's scanner extensions (postgres, mysql, sqlite, iceberg, httpfs) install
offline only as `duckdb-extension-*` wheels, which exist for 1.5.5 and not for
2.0. This benchmark prices that pin: the installed DuckDB and the other version,
installed once into a cache folder with `pip --target` and put first on
`PYTHONPATH`, each run `towpath workflow run` of the seed workflow (a new
process) and the raw DuckDB query over the same Parquet files, interleaved so
machine noise hits both alike.

Usage: python -m benchmarks.bench_duckdb_versions [--other 2.0.1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_workflow import DATA, DATE, RAW, build_project, raw_query, reset_target, timed

CACHE = Path(__file__).parent / ".data" / "duckdb-versions"


def other_duckdb(version: str) -> Path:
    """A folder holding only `duckdb==version`, installed once and reused."""
    target = CACHE / version
    if not (target / "duckdb").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), f"duckdb=={version}"],
            check=True,
        )
    return target


def env_with(path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(path), env.get("PYTHONPATH", "")) if p)
    return env


def version_of(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", "import duckdb; print(duckdb.__version__)"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", default="2.0.1", help="the DuckDB version to compare the installed one with")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--other-rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    root = build_project(args.rows, args.other_rows)
    envs = {"installed": env_with(None), "other": env_with(other_duckdb(args.other))}
    versions = {name: version_of(env) for name, env in envs.items()}
    towpath = [sys.executable, "-m", "towpath.cli.main", "-C", str(root), "workflow", "run", str(root / "sample" / "main.sch.yaml"), "--date", DATE]
    raw = [sys.executable, "-c", RAW, raw_query(root)]
    times: dict[tuple[str, str], list[float]] = {(name, kind): [] for name in envs for kind in ("raw", "towpath")}
    for name, env in envs.items():  # each version writes the table once from empty (its own format, warm cache)
        reset_target(root)
        timed(towpath, env)
    for _ in range(args.repeats):
        for name, env in envs.items():
            times[name, "raw"].append(timed(raw, env)[0])
            times[name, "towpath"].append(timed(towpath, env)[0])
    median = {key: statistics.median(values) for key, values in times.items()}
    print("| DuckDB | raw query (new process) | `towpath workflow run` | ratio |")
    print("| --- | --- | --- | --- |")
    for name in envs:
        raw_s, tp_s = median[name, "raw"], median[name, "towpath"]
        print(f"| {versions[name]} | {raw_s:.2f} s | {tp_s:.2f} s | {tp_s / raw_s:.2f}x |")
    a, b = (median["installed", "towpath"], median["other", "towpath"])
    print(f"\n`towpath workflow run` on {versions['installed']} / on {versions['other']}: {a / b:.3f}")
    print(f"raw query on {versions['installed']} / on {versions['other']}: {median['installed', 'raw'] / median['other', 'raw']:.3f}")
    print(f"cpu count: {os.cpu_count()}, data: {DATA}")


if __name__ == "__main__":
    main()
