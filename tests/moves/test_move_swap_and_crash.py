"""Readers see exactly one version at every moment; kill -9 anywhere leaves the alias on a complete version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from move_helpers import move, move_file, store

from towpath.catalog import apply_ddl
from towpath.project import Project
from towpath.protobuf import Encoder, generate_schema

KEYS = 3000


def _versions_table(project: Project, run: int, rows: int = KEYS) -> None:
    data = pa.table({"id": pa.array(np.arange(rows), pa.int64()), "run": pa.array(np.full(rows, run), pa.int64())})
    if not project.catalog.exists("crm.runs"):
        project.catalog.ensure_namespace("crm")
        apply_ddl(project.catalog, "CREATE TABLE crm.runs (id BIGINT, run BIGINT)")
    project.catalog.write("crm.runs", data, mode="overwrite")


BODY = "data_movement:\n  source: {table: crm.runs}\n  key_columns: [id]\n"


def test_readers_hammering_get_many_during_swaps_see_one_version_per_response(project: Project, kv_url: str) -> None:
    _versions_table(project, 1)
    path = move_file(project, kv_url, BODY, namespace="runs", batch_size=500, keep_versions=3)
    move(project, path)
    keys = Encoder(generate_schema(project.catalog.table("crm.runs").schema().as_arrow(), ["id"])).encode_keys(
        pa.table({"id": pa.array(np.arange(KEYS), pa.int64()), "run": pa.array(np.zeros(KEYS), pa.int64())}))
    seen: list[frozenset[bytes | None]] = []
    stop = threading.Event()
    reader = store(kv_url, project)

    def hammer() -> None:
        while not stop.is_set():
            seen.append(frozenset(reader.get_many("runs", keys)))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for run in (2, 3, 4):
            _versions_table(project, run)
            move(project, path)
    finally:
        stop.set()
        thread.join()
        reader.close()
    assert seen and all(len(response) == 1 and None not in response for response in seen)
    assert len({next(iter(r)) for r in seen}) >= 2, "the reader never saw a swap"


def _move_process(project: Project, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "move", "run", str(path), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_kill_9_during_a_move_leaves_the_alias_on_the_last_complete_version(project: Project, kv_url: str) -> None:
    _versions_table(project, 1, 1000)
    path = move_file(project, kv_url, BODY, namespace="runs", batch_size=200)
    first = move(project, path)
    _versions_table(project, 2, 400_000)
    kv = store(kv_url, project)
    try:
        child = _move_process(project, path)
        deadline = time.monotonic() + 120
        partial = None
        while partial is None and time.monotonic() < deadline and child.poll() is None:
            fresh = [ns for ns in kv.namespaces() if ns != first.namespace]
            if fresh and kv.count(fresh[0]) > 0:
                partial = fresh[0]
        assert partial is not None, f"the move never started writing: {child.communicate()}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert kv.alias("runs") == first.namespace  # readers never left v1
        assert 0 < kv.count(partial) < 400_000
        assert project.state.kv.version("runs", 2).status == "started"
        status = subprocess.run(
            [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "move", "status", "runs", "-f", str(path),
             "--json"], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
        )
        report = json.loads(status.stdout)
        assert report["recovered"] == [partial] and report["current"]["version"] == 1 and report["keys"] == 1000
        assert partial not in kv.namespaces()
        interrupted = project.state.kv.version("runs", 2)
        assert interrupted.status == "error" and interrupted.details["reason"].startswith("interrupted: run ")
        assert "is killed" in interrupted.details["reason"]
        _versions_table(project, 3, 1000)
        again = move(project, path)
        assert again.version == 3 and kv.alias("runs") == again.namespace
    finally:
        kv.close()


def test_a_store_going_away_mid_move_fails_cleanly_and_the_next_move_recovers(project: Project) -> None:
    import services
    from towpath.errors import TowpathError

    _versions_table(project, 1, 300_000)
    with services.redis_server() as server:
        url = f"{server.url}?prefix=away"
        path = move_file(project, url, BODY, namespace="runs", batch_size=500)
        kv = store(url, project)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                move(project, path)
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                failure.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and thread.is_alive():
            names = kv.namespaces()
            if names and kv.count(names[0]) > 0:
                break
        os.kill(server.pid, signal.SIGKILL)
        thread.join(120)
        kv.close()
    assert failure and isinstance(failure[0], TowpathError), failure
    version = project.state.kv.version("runs", 1)
    assert version.status == "error" and version.details["reason"].startswith("write failed: ")
    assert version.details["dropped"] is False and "the next move retries" in version.details["reason"]
    runs = project.state.list_runs(limit=5)
    assert any(r.workflow_id == "move:runs" and r.status.value == "failed" for r in runs)
