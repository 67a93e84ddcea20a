"""What an environment costs: cutting its copies, writing, reading and promoting, against the raw alternatives.

A catalog with `--tables` tables of `--days` daily partitions (`--rows` rows each). In one run:

* cut the copies: `Catalog.table(t, write=True)` in an environment (a registered metadata
  copy, no data file copied) for every table, against copying each table's rows into a new
  table (what an isolated copy costs without zero-copy) and against an Iceberg branch per
  table (`create_branch`, the other zero-copy design);
* a first write in the environment (one day's dynamic partition overwrite on each copy)
  against the same write on production;
* loading a table the environment did not write (the copy is looked up first, then
  production's table wrapped read-only) against loading it in production;
* promote every copy in one atomic commit, against `publish_branches` of one branch per
  table (the multi-table publish it reuses);
* drop the environment (its copies and the files only they reference).

Usage: python -m benchmarks.bench_deploy [--tables 3] [--days 20] [--rows 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _day(d: int, rows: int) -> Any:
    import pyarrow as pa

    day = dt.date(2022, 1, 1) + dt.timedelta(days=d)
    return pa.table({"id": pa.array(range(rows), pa.int64()), "amount": pa.array([1.5] * rows),
                     "day": pa.array([day] * rows, pa.date32())})


def build(root: Path, tables: int, days: int, rows: int) -> list[str]:
    from towpath.catalog import Catalog, apply_ddl
    from towpath.config.project import ProjectConfig

    catalog = Catalog.open(ProjectConfig(), root)
    names = [f"bench.t{i}" for i in range(tables)]
    for name in names:
        apply_ddl(catalog, f"CREATE TABLE {name} (id BIGINT, amount DOUBLE, day DATE) PARTITIONED BY (day)")
        for d in range(days):
            catalog.write(name, _day(d, rows), "dynamic_overwrite")
    return names


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=3)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from towpath.catalog import Catalog, create_branch, promote_copies, publish_branches
    from towpath.config.project import ProjectConfig

    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = build(root, args.tables, args.days, args.rows)
        production = Catalog.open(ProjectConfig(), root)
        total_rows = args.tables * args.days * args.rows

        def copy_rows() -> None:
            for i, name in enumerate(names):
                data = production.read(name)
                copy = f"copies.t{i}"
                production.ensure_namespace("copies")
                production.iceberg.create_table(copy, schema=production.table(name).schema(),
                                                partition_spec=production.table(name).spec())
                production.write(copy, data, "append")

        envs = iter(f"e{n}" for n in range(10_000))

        def fork_all() -> None:
            env = Catalog(production.iceberg, next(envs))
            for name in names:
                env.table(name, write=True)

        branches = iter(f"b{n}" for n in range(10_000))

        def branch_all() -> None:
            branch = next(branches)
            for name in names:
                create_branch(production, name, branch)

        fork = min(_timed(fork_all) for _ in range(args.repeats))
        branch = min(_timed(branch_all) for _ in range(args.repeats))
        copy = _timed(copy_rows)
        rows.append((f"cut copies of {args.tables} tables ({total_rows:,} rows)", "full copy of the rows", fork, copy))
        rows.append((f"cut copies of {args.tables} tables", "an Iceberg branch per table", fork, branch))

        new_day = _day(args.days, args.rows)

        def first_writes(n: int) -> tuple[float, float]:
            fresh, cut = Catalog(production.iceberg, f"w{n}"), Catalog(production.iceberg, f"cut{n}")
            for name in names:
                cut.table(name, write=True)  # the same state, already cut: the write alone
            return (_timed(lambda: [fresh.write(n, new_day, "dynamic_overwrite") for n in names]),
                    _timed(lambda: [cut.write(n, new_day, "dynamic_overwrite") for n in names]))

        pairs = [first_writes(n) for n in range(args.repeats)]
        rows.append((f"first write of a day to {args.tables} tables in an env (cut + overwrite)", "the write alone",
                     min(p[0] for p in pairs), min(p[1] for p in pairs)))
        env = Catalog(production.iceberg, "feature")
        for name in names:
            env.write(name, new_day, "dynamic_overwrite")

        reader = Catalog(production.iceberg, "reader")
        env_load = min(_timed(lambda: [reader.table(n) for n in names]) for _ in range(args.repeats))
        prod_load = min(_timed(lambda: [production.table(n) for n in names]) for _ in range(args.repeats))
        rows.append((f"load {args.tables} production tables from an env", "the same in production", env_load, prod_load))

        publish_branch = "wap"
        for name in names:
            create_branch(production, name, publish_branch)
            production.write(name, new_day, "dynamic_overwrite", branch=publish_branch)
        publish = _timed(lambda: publish_branches(production, dict.fromkeys(names, publish_branch)))
        # production just moved (the publish): promote with force, the same commit after the same checks
        promote = _timed(lambda: promote_copies(production, "feature", force=True))
        rows.append((f"promote {args.tables} tables (one commit)", "publish_branches of as many", promote, publish))

        from towpath.catalog import drop_copies

        drop = _timed(lambda: drop_copies(production, "w0"))
        rows.append(("drop an environment", "-", drop, float("nan")))

    load = os.getloadavg()[0]
    print(f"bench_deploy: {args.tables} tables x {args.days} days x {args.rows:,} rows; load {load:.1f}\n")
    print("| operation | towpath | baseline | baseline time | ratio |")
    print("| --- | ---: | --- | ---: | ---: |")
    for what, baseline, ours, theirs in rows:
        ratio = f"{ours / theirs:.2f}x" if not math.isnan(theirs) and theirs > 0 else "-"
        base = f"{theirs * 1000:.1f} ms" if not math.isnan(theirs) else "-"
        print(f"| {what} | {ours * 1000:.1f} ms | {baseline} | {base} | {ratio} |")


if __name__ == "__main__":
    main()
