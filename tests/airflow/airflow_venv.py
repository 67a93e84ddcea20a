"""Apache Airflow in its own virtual environment, built once and cached between test runs.

Airflow 2.10 pins SQLAlchemy < 2 (towpath's catalog needs 2.x) and resolves
its own pydantic, Flask and provider versions, so it can never live in towpath's
venv: that is the deployment `towpath.airflow` is designed for, and the tests
run it. The venv is keyed by the pinned version and the interpreter
(`~/.cache/towpath/test-venvs/airflow-2.10.5-py311/`); the first run installs
it from PyPI (no constraints file: only PyPI is reachable, and 2.10.5 resolves
cleanly without one) and migrates a template metadata database, later runs
reuse both. Two test processes racing to build it serialize on a lock file;
a build that died half-way has no `.complete` marker and is rebuilt.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

AIRFLOW_VERSION = "2.10.5"
CACHE = Path(os.environ.get("TOWPATH_TEST_VENVS", Path.home() / ".cache" / "towpath" / "test-venvs"))
PY = f"py{sys.version_info.major}{sys.version_info.minor}"


@dataclass(frozen=True)
class AirflowVenv:
    root: Path
    install_seconds: float
    """How long the build took when it was made (the first run on a clean machine)."""
    built_now: bool

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def template_db(self) -> Path:
        """A migrated Airflow metadata database; each test copies it instead of migrating (5 s) again."""
        return self.root / "airflow-home" / "airflow.db"


def airflow_venv(version: str = AIRFLOW_VERSION) -> AirflowVenv:
    """The cached venv with Apache Airflow `version`, building it under a lock when missing."""
    root = CACHE / f"airflow-{version}-{PY}"
    marker = root / ".complete"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"airflow-{version}-{PY}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the marker
        if marker.exists():
            return AirflowVenv(root, json.loads(marker.read_text())["install_seconds"], built_now=False)
        shutil.rmtree(root, ignore_errors=True)  # a build that died half-way
        started = time.monotonic()
        _build(root, version)
        seconds = round(time.monotonic() - started, 1)
        marker.write_text(json.dumps({"install_seconds": seconds, "version": version}))
        return AirflowVenv(root, seconds, built_now=True)


def _build(root: Path, version: str) -> None:
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", str(root)])
    _run([str(root / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
          f"apache-airflow=={version}"])
    home = root / "airflow-home"
    home.mkdir()
    _run([str(root / "bin" / "airflow"), "db", "migrate"], env=airflow_env(home, home / "airflow.db"))


def airflow_env(home: Path, db: Path) -> dict[str, str]:
    """The environment of an isolated Airflow: its own home and SQLite metadata database, no examples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    })
    return env


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(["nice", "-n", "19", *argv], env=env, capture_output=True, text=True, timeout=1200,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")
