"""The cached Airflow venv: two test processes racing to build it build it once; a half-built one is rebuilt.

The build itself (pip installing Airflow, minutes) is replaced by a stand-in that takes
a second and records when it ran, so the lock and the `.complete` marker are what is
tested here; the real build is what every other test in this folder runs on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RACER = """
import json, sys, time
from pathlib import Path
import airflow_venv

def build(root, version):  # stands in for `python -m venv` + pip install + airflow db migrate
    start = time.time()
    root.mkdir(parents=True)
    time.sleep(1)
    (root / "built-by").write_text(sys.argv[1])
    with open(root.parent / "builds.jsonl", "a") as f:
        f.write(json.dumps([start, time.time()]) + "\\n")

airflow_venv._build = build
venv = airflow_venv.airflow_venv("0.0-test")
print(json.dumps({"built_now": venv.built_now, "by": (venv.root / "built-by").read_text()}))
"""


def race(cache: Path, n: int) -> list[dict[str, object]]:
    env = {**os.environ, "TOWPATH_TEST_VENVS": str(cache), "PYTHONPATH": str(HERE)}
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(i)], env=env, stdout=subprocess.PIPE, text=True)
             for i in range(n)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return [json.loads(out) for out in outs]


def test_racing_processes_build_the_venv_once_and_share_it(tmp_path: Path) -> None:
    results = race(tmp_path, 3)

    assert sorted(r["built_now"] for r in results) == [False, False, True]
    assert len({r["by"] for r in results}) == 1  # all three use the one build
    assert len((tmp_path / "builds.jsonl").read_text().splitlines()) == 1
    assert race(tmp_path, 1)[0]["built_now"] is False  # a later run reuses it


def test_a_build_that_died_half_way_is_rebuilt(tmp_path: Path) -> None:
    half = tmp_path / f"airflow-0.0-test-py{sys.version_info.major}{sys.version_info.minor}"
    (half / "bin").mkdir(parents=True)  # a venv without the `.complete` marker: pip was killed

    [result] = race(tmp_path, 1)

    assert result["built_now"] is True and not (half / "bin").exists()
    assert (half / ".complete").exists()
