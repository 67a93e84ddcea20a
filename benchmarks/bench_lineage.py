"""Static lineage and impact analysis on a project of chained SQL workflows, against raw sqlglot.

The project has `--workflows` workflows; workflow i creates `bench.t{i+1}` and
fills it from `bench.t{i}` with `--columns` columns, two of them computed from
two sources (a window and a sum). Measured, in one run:

* raw: sqlglot alone — parse, qualify against the schemas and column lineage of
  every query (the least any column lineage costs);
* `project validate`: towpath's whole check of every workflow (YAML, DDL, tables,
  columns) that also collects and stores the lineage;
* `towpath lineage` on the first table's first column, downstream through the
  whole chain (graph load from the state store + walk);
* `migration plan` of a rename of that column (rescans every workflow, finds
  every consumer with its lines).

Usage: python -m benchmarks.bench_lineage [--workflows 40] [--columns 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def build(root: Path, workflows: int, columns: int) -> list[str]:
    """The project files; returns each workflow's query text (for the raw baseline)."""
    from towpath.project import Project

    Project.init(root, name="bench")
    names = [f"c{k}" for k in range(columns)]
    queries = []
    for i in range(workflows):
        folder = root / f"w{i:03d}"
        folder.mkdir()
        ddl = ",\n".join(f"  {n} BIGINT" for n in names)
        (folder / "ddl.sql").write_text("".join(  # its source too: the project is validated before any run
            f"CREATE TABLE IF NOT EXISTS bench.t{t} (\n{ddl}\n);\n" for t in (i, i + 1)))
        select = [f"    {n}" for n in names[:-2]] + [
            f"    SUM({names[1]}) OVER (PARTITION BY {names[0]}) AS {names[-2]}",
            f"    {names[2]} + {names[3]} AS {names[-1]}",
        ]
        query = "SELECT\n" + ",\n".join(select) + f"\nFROM bench.t{i}\nWHERE {names[0]} > 0"
        queries.append(query)
        (folder / "load.sql").write_text(f"INSERT OVERWRITE TABLE bench.t{i + 1}\n{query};\n")
        steps = ["  - job: {id: ddl, type: sql, script: ddl.sql}", "  - job: {id: load, type: sql, script: load.sql}"]
        (folder / "main.sch.yaml").write_text(f"id: w{i:03d}\nowner: team{i % 5}\nsteps:\n" + "\n".join(steps) + "\n")
    return queries


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=40)
    parser.add_argument("--columns", type=int, default=12)
    args = parser.parse_args(argv)

    import sqlglot
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    from towpath.lineage import LineageGraph, Node
    from towpath.migrations import one_change, plan_migration
    from towpath.project import Project
    from towpath.testing import validate_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        queries = build(root, args.workflows, args.columns)
        project = Project(root)
        schema = {"bench": {f"t{i}": {f"c{k}": "bigint" for k in range(args.columns)}
                            for i in range(args.workflows + 1)}}

        def raw() -> None:
            for text in queries:
                tree = qualify(sqlglot.parse_one(text, read="spark"), schema=schema, dialect="spark")
                lineage(None, tree, schema, dialect="spark")

        raw_s = timed(raw)
        validate_s = timed(lambda: validate_project(project), repeat=2)
        problems = validate_project(project)
        assert problems == [], problems

        def walk() -> int:
            graph = LineageGraph.from_state(project.state)
            return len(graph.walk(Node("bench.t0", "c1"), "downstream").hops)

        hops = walk()
        walk_s = timed(walk)
        project.catalog.ensure_namespace("bench")
        project.run("w000/main.sch.yaml", date="2022-01-01")  # bench.t0 and t1 now exist in the catalog
        rename = one_change(add=None, drop=None, rename=("c1", "c1_renamed"), retype=None, repartition=None)
        plan_s = timed(lambda: plan_migration(project, "bench.t1", rename), repeat=1)
        consumers = len(plan_migration(project, "bench.t1", rename).consumers)

    n = args.workflows
    print(f"## Lineage: {n} chained SQL workflows, {args.columns} columns\n")
    print("| what | seconds | per workflow (ms) | vs raw sqlglot |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| raw sqlglot: parse + qualify + lineage of every query | {raw_s:.3f} | {1000 * raw_s / n:.1f} | 1.00x |")
    print(f"| `project validate` (full check + lineage stored) | {validate_s:.3f} | {1000 * validate_s / n:.1f} "
          f"| {validate_s / raw_s:.2f}x |")
    print(f"| `towpath lineage bench.t0.c1 --downstream` ({hops} hops) | {walk_s:.3f} | | |")
    print(f"| `migration plan` rename (rescan + {consumers} consumers) | {plan_s:.3f} | {1000 * plan_s / n:.1f} | |")


if __name__ == "__main__":
    main()
