"""What towpath costs inside Apache Airflow: parsing the DAG file, and each task's towpath process.

Airflow re-parses every DAG file every 30 s by default (and times it out at
30 s): `dags_from_project` runs `towpath schedule export --json` once per parse.
Measured in a fresh interpreter of Airflow's own venv (tests/airflow/airflow_venv.py
builds it), against the baseline of the same interpreter importing Airflow and
building one empty DAG, for a project with 3 and 30 schedule files. Each task of
a generated DAG is one `towpath workflow ... --json` process: its time is
measured with the project's warm worker off (`TOWPATH_WORKER=off`, a new
interpreter imports towpath each time) and on (`TOWPATH_WORKER=auto` after
`towpath worker start`: the command runs in a fork of a warm process), against
the same workflow run in-process (`Project.run`, warm).

Usage: python -m benchmarks.bench_airflow [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "airflow"))

from airflow_venv import airflow_env, airflow_venv

MAIN = """\
id: totals
steps:
  - job: {id: ddl, type: sql, sql: "CREATE TABLE IF NOT EXISTS mart.totals (n BIGINT) PARTITIONED BY (date DATE)"}
  - template:
      id: wap
      tables: [mart.totals]
      write_jobs:
        - job: {id: w, type: sql, target: mart.totals, sql: "SELECT 1 AS n, DATE '${DATE}' AS date"}
      audits:
        - function: columns_should_not_have_nulls
          params: {columns: [n], where: "date = DATE '${DATE}'"}
"""
BASELINE = "import datetime as dt\nfrom airflow.models.dag import DAG\nDAG('x', schedule=None, start_date=dt.datetime(2024, 1, 1))\n"
PARSE = "from towpath.airflow import dags_from_project\ndags_from_project({root!r}, towpath_bin={bin!r}, env={env!r})\n"


def project(root: Path, files: int) -> Path:
    from towpath.project import Project

    Project.init(root, name="bench")
    (root / "main.sch.yaml").write_text(MAIN)
    for n in range(files):
        (root / f"d{n}.sch.yaml").write_text(f'id: d{n}\ntype: daily\nworkflow: main.sch.yaml\nschedule: "0 6 * * *"\n')
    return root


def timed(run: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def row(label: str, times: list[float], base: float | None) -> str:
    median = statistics.median(times)
    ratio = f"{median / base:.2f}x" if base else "1.00x"
    return f"| {label} | {median * 1000:.0f} | {min(times) * 1000:.0f} | {ratio} |"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    venv = airflow_venv()
    towpath = str(Path(sys.executable).with_name("towpath"))
    src = str(ROOT / "src")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "airflow"
        (home / "dags").mkdir(parents=True)
        shutil.copy(venv.template_db, home / "airflow.db")
        env = {**airflow_env(home, home / "airflow.db"), "PYTHONPATH": src}
        child = {"TOWPATH_WORKER": "off", "PYTHONPATH": src}

        def airflow_python(code: str) -> Callable[[], object]:
            return lambda: subprocess.run([str(venv.python), "-c", code], env=env, check=True, capture_output=True)

        print("DAG file parse, a fresh interpreter of Airflow's venv:\n")
        print("| parse | median ms | min ms | vs Airflow alone |")
        print("| --- | ---: | ---: | ---: |")
        base = timed(airflow_python(BASELINE), args.runs)
        print(row("import Airflow, build 1 empty DAG (baseline)", base, None))
        for files in (3, 30):
            root = project(Path(tmp) / f"p{files}", files)
            times = timed(airflow_python(PARSE.format(root=str(root), bin=towpath, env=child)), args.runs)
            print(row(f"`dags_from_project`, {files} schedule files", times, statistics.median(base)))
            export = timed(lambda r=root: subprocess.run(
                [towpath, "-C", str(r), "schedule", "export", "--json"], env={**os.environ, **child}, check=True,
                capture_output=True), args.runs)
            print(row(f"  of which `towpath schedule export --json` alone ({files} files)", export,
                      statistics.median(base)))

        root = project(Path(tmp) / "run", 0)
        from towpath.project import Project

        warm = Project(root)
        warm.run(root / "main.sch.yaml", date="2024-01-01")
        days = iter(range(10_000))

        def date() -> str:
            return f"2024-02-{1 + next(days) % 28:02d}"

        print("\nOne task: `towpath workflow run main.sch.yaml --json` (DDL, a WAP write, one audit):\n")
        print("| run | median ms | min ms | vs in-process |")
        print("| --- | ---: | ---: | ---: |")
        inproc = timed(lambda: warm.run(root / "main.sch.yaml", date=date()), args.runs)
        print(row("`Project.run` in a warm process (baseline)", inproc, None))
        for mode in ("off", "auto"):
            run_env = {**os.environ, "PYTHONPATH": src, "TOWPATH_WORKER": mode}
            if mode == "auto":
                subprocess.run([towpath, "-C", str(root), "worker", "start"], env=run_env, check=True,
                               capture_output=True)
            times = timed(lambda e=run_env: subprocess.run(
                [towpath, "-C", str(root), "workflow", "run", str(root / "main.sch.yaml"), "--date", date(),
                 "--json"], env=e, check=True, capture_output=True), args.runs)
            label = "CLI, a new process (TOWPATH_WORKER=off)" if mode == "off" else "CLI through the warm worker"
            print(row(label, times, statistics.median(inproc)))
        subprocess.run([towpath, "-C", str(root), "worker", "stop", "--now"], env=run_env, check=False,
                       capture_output=True)


if __name__ == "__main__":
    main(sys.argv[1:])
