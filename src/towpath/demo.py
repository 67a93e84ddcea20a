"""`make demo`: a throwaway project, synthetic viewing data, one run of the sample workflow.

Creates a project in a temporary folder (or `--keep DIR`), fills
`some_db.source_table` with three days of synthetic sessions, runs the
Spark SQL sample's main workflow for 2022-01-01 with Write-Audit-Publish, and
prints the top 5 US titles, like the seed's `SELECT ... LIMIT 5`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m towpath.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="Create the project in DIR and keep it (default: a temp folder).")
    parser.add_argument(
        "--force", action="store_true", help="With --keep: write into DIR even if it is not empty (overwrites the demo's files)."
    )
    parser.add_argument("--rows", type=int, default=200_000, help="Source sessions per day (default 200000).")
    parser.add_argument("--date", default="2022-01-01")
    args = parser.parse_args(argv)

    from towpath.cli import render
    from towpath.errors import TowpathError
    from towpath.project import Project
    from towpath.samples import load_source_table, recipe_path

    if args.keep and not args.force and _has_files(Path(args.keep)):
        render.err_console.print(
            f"[red]error:[/red] {args.keep} is not empty: the demo would overwrite files in it. "
            "Pick a new or empty folder, or pass --force."
        )
        return 1
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="towpath-demo-"))
    try:
        project = Project.init(folder, name="towpath-demo", exist_ok=True)
        shutil.copytree(recipe_path("spark-sql"), folder / "sample", dirs_exist_ok=True)
        render.console.print(f"[bold]project[/bold] {folder}")
        started = time.perf_counter()
        rows = load_source_table(project, "some_db.source_table", ["2021-12-31", args.date, "2022-01-02"], rows_per_day=args.rows)
        render.success(f"loaded {rows:,} synthetic viewing sessions into some_db.source_table ({time.perf_counter() - started:.1f}s)")
        result = project.run(folder / "sample" / "main.sch.yaml", date=args.date)
        render.run_result(result)
        if not result.ok:
            return 1
        render.console.print(
            f"\nsql> SELECT * FROM foo.dataflow_sample_results WHERE date = DATE '{args.date}' "
            "AND country_code = 'US' ORDER BY title_rank LIMIT 5;"
        )
        top = project.query(
            "SELECT * FROM foo.dataflow_sample_results "
            f"WHERE date = DATE '{args.date}' AND country_code = 'US' ORDER BY title_rank LIMIT 5"
        )
        render.arrow_table(top)
        total = project.query(f"SELECT COUNT(*) AS n FROM foo.dataflow_sample_results WHERE date = DATE '{args.date}'")
        render.console.print(f"({total.column(0)[0].as_py():,} rows for {args.date}: the top 100 of each of 190 countries)")
        return 0
    except TowpathError as exc:
        render.err_console.print(f"[red]error:[/red] {exc}")
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _has_files(folder: Path) -> bool:
    """True for a non-empty folder, and for a path that is a file (never written over either)."""
    return folder.is_file() or (folder.is_dir() and any(folder.iterdir()))


if __name__ == "__main__":
    sys.exit(main())
