"""A Spark standalone cluster on loopback: one master and workers, from the pyspark install's `spark-class`.

pyspark's wheel ships the whole Spark distribution's jars and `bin/spark-class`,
so `org.apache.spark.deploy.master.Master` and `...worker.Worker` run from it as
on any cluster. Each daemon gets free ports and its own work dir; the cluster
is ready when the master's JSON status page counts every worker ALIVE. Workers
inherit this process's environment, so their executors' Python workers run
this interpreter with this `PYTHONPATH` (towpath importable, as on a real
cluster where towpath is installed on every node).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._process import free_port, wait_for_port

_START_TIMEOUT_S = 180
"""JVMs start slowly on a busy 2-core machine."""


@dataclass(frozen=True)
class SparkCluster:
    """A running standalone cluster; `url` is its `spark://127.0.0.1:PORT` master URL."""

    port: int
    webui_port: int
    workers: int

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def status(self) -> dict[str, object]:
        """The master's status page as JSON (workers, applications)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webui_port}/json/", timeout=5) as response:
            status: dict[str, object] = json.load(response)
        return status


def spark_class() -> Path:
    """`bin/spark-class` of the installed pyspark."""
    import pyspark

    path = Path(pyspark.__file__).parent / "bin" / "spark-class"
    if not path.exists():
        raise RuntimeError(f"pyspark has no {path}: install pyspark from its wheel")
    return path


@contextlib.contextmanager
def spark_cluster(workers: int = 2, cores: int = 1, memory: str = "1g") -> Iterator[SparkCluster]:
    """Start a master and `workers` workers (`cores` and `memory` each) on 127.0.0.1; stop them after."""
    folder = Path(tempfile.mkdtemp(prefix="towpath-spark-"))
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(folder), "SPARK_NO_DAEMONIZE": "1"}
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> Path:
        log = folder / f"{name}.log"
        with log.open("wb") as out:
            processes.append(subprocess.Popen([str(spark_class()), *args], stdout=out, stderr=subprocess.STDOUT, env=env))
        return log

    try:
        cluster = SparkCluster(free_port(), free_port(), workers)
        log = start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", str(cluster.port), "--webui-port", str(cluster.webui_port))
        wait_for_port(cluster.port, _START_TIMEOUT_S, "spark master", log)
        wait_for_port(cluster.webui_port, _START_TIMEOUT_S, "spark master web UI", log)
        for number in range(workers):
            work = folder / f"worker-{number}"
            work.mkdir()
            start(f"worker-{number}", "org.apache.spark.deploy.worker.Worker", cluster.url, "--host", "127.0.0.1",
                  "--port", str(free_port()), "--webui-port", str(free_port()), "--cores", str(cores),
                  "--memory", memory, "--work-dir", str(work))
        _wait_for_workers(cluster, folder)
        yield cluster
    finally:
        for process in reversed(processes):  # workers first, then the master
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_workers(cluster: SparkCluster, folder: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    alive = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            alive = int(str(cluster.status().get("aliveworkers", 0)))
            if alive >= cluster.workers:
                return
        time.sleep(0.2)
    logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(folder.glob("worker-*.log")))
    raise RuntimeError(f"{alive} of {cluster.workers} Spark workers joined {cluster.url} in {_START_TIMEOUT_S}s\n{logs}")
