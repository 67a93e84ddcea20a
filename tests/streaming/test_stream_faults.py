"""Fault tests: kill -9 anywhere (also inside a commit and during compaction), two workers, fencing, broker restart.

Every test ends by checking the lake against what was produced: each good
message exactly once in the table, each malformed one exactly once in the
dead-letter table.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest
from stream_data import new_topic, orders, write_spec

import services
from towpath.project import Project
from towpath.streaming import RunOptions, StreamFencedError, StreamJob, load_stream_spec

SRC = str(Path(__file__).resolve().parents[2] / "src")
N = 1200
BAD_EVERY = 100
PARTITIONS = 3


def start(project: Project, path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "stream", "run", str(path), *args],
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def committed_rows(project: Project, table: str) -> int:
    return project.catalog.read(table).num_rows if project.catalog.exists(table) else 0


def assert_exactly_once(project: Project, table: str, n: int = N) -> None:
    ids = project.catalog.read(table).column("id")
    good = [i for i in range(n) if i % BAD_EVERY != BAD_EVERY - 1]
    assert len(ids) == len(good), f"{len(ids)} rows, expected {len(good)}"
    assert sorted(ids.to_pylist()) == good
    dead = project.catalog.read(f"{table}_dead_letters")
    expected_bad = sorted((i % PARTITIONS, i // PARTITIONS) for i in range(n) if i % BAD_EVERY == BAD_EVERY - 1)
    assert sorted(zip(dead.column("partition").to_pylist(), dead.column("offset").to_pylist(), strict=True)) == expected_bad


@pytest.fixture
def produced(project: Project, kafka_broker: services.KafkaBroker) -> Iterator[tuple[Path, str]]:
    topic = new_topic("faults")
    kafka_broker.create_topic(topic, partitions=PARTITIONS)
    kafka_broker.produce(topic, orders(N, bad_every=BAD_EVERY), keys=[b"k%d" % i for i in range(N)],
                         partitions=PARTITIONS)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic,
                      window={"duration": "0.2s", "max_rows": 100}, compaction={"every": 3})
    yield path, f"lake.{topic.replace('-', '_')}"


def test_kill_9_at_random_moments_inside_commits_and_compaction(
    project: Project, produced: tuple[Path, str], tmp_path: Path
) -> None:
    path, table = produced
    rng = random.Random(7)
    marker = tmp_path / "paused"
    # inside a commit (between the table's and the dead-letter table's pointer moves), before a commit (data files
    # written, nothing visible), during compaction (files rewritten, not swapped in), and at random moments
    for pause in ("between-table-commits", "before-position-commit", "during-compaction", None, None):
        marker.unlink(missing_ok=True)
        env = {"TOWPATH_DEBUG_PAUSE": pause, "TOWPATH_DEBUG_PAUSE_FILE": str(marker)} if pause else {}
        proc = start(project, path, "--until-caught-up", env=env)
        if pause:
            wait_for(lambda p=proc: marker.exists() or p.poll() is not None, 60, f"the job to reach {pause}")
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        else:
            before = committed_rows(project, table)
            wait_for(lambda p=proc, b=before: committed_rows(project, table) > b or p.poll() is not None, 60, "a commit")
            time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = start(project, path, "--until-caught-up")
    _, err = final.communicate(timeout=180)
    assert final.returncode == 0, err.decode()[-3000:]
    assert_exactly_once(project, table)
    newest = project.state.list_runs(workflow_id=f"stream:{path.name.removesuffix('.stream.yaml')}", limit=1)
    assert [r.status.value for r in newest] == ["success"]


def test_two_workers_one_killed_and_restarted(project: Project, produced: tuple[Path, str]) -> None:
    path, table = produced
    first, second = start(project, path, "--worker", "1/2"), start(project, path, "--worker", "2/2")
    wait_for(lambda: committed_rows(project, table) > 0, 60, "a first commit")
    first.send_signal(signal.SIGKILL)
    first.wait()
    restarted = start(project, path, "--worker", "1/2", "--until-caught-up")
    _, err = restarted.communicate(timeout=180)
    assert restarted.returncode == 0, err.decode()[-3000:]
    wait_for(lambda: committed_rows(project, table) >= N - N // BAD_EVERY, 120, "worker 2/2 to catch up")
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()[-3000:]
    assert_exactly_once(project, table)


def test_a_second_instance_owning_the_same_partitions_is_fenced(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic("fence")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(20))
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, window={"duration": "1h"})
    spec = load_stream_spec(path)
    consuming = threading.Event()
    failure: list[BaseException] = []
    first = StreamJob(spec, path.parent, project.catalog, project.state)

    def run_first() -> None:
        try:
            first.run(RunOptions(handle_signals=False, progress=lambda stats: consuming.set()))
        except BaseException as exc:  # noqa: BLE001 - the assertion below reads it
            failure.append(exc)

    thread = threading.Thread(target=run_first)
    thread.start()
    assert consuming.wait(60)
    second = StreamJob(spec, path.parent, project.catalog, project.state)
    assert second.run(RunOptions(until_caught_up=True, handle_signals=False)).messages == 20
    first.stop()
    thread.join(60)
    assert len(failure) == 1 and isinstance(failure[0], StreamFencedError)
    assert "another writer moved the position" in str(failure[0]) and "only one worker may own a partition" in str(
        failure[0])
    assert project.catalog.read(f"lake.{topic.replace('-', '_')}").num_rows == 20  # the fenced window added nothing


def test_broker_restart_mid_stream_loses_nothing(project: Project, s3_server: str) -> None:
    import boto3

    bucket = f"tansu-{os.getpid()}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    env = {"AWS_ENDPOINT": s3_server, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1"}
    with services.kafka_broker(storage=f"s3://{bucket}/", env=env) as broker:
        topic = new_topic("restart")
        broker.create_topic(topic, partitions=2)
        broker.produce(topic, orders(500), partitions=2)
        path = write_spec(project.root, broker.bootstrap_servers, topic, window={"duration": "0.3s"})
        table = f"lake.{topic.replace('-', '_')}"
        job = StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                job.run(RunOptions(handle_signals=False))
            except BaseException as exc:  # noqa: BLE001 - the assertion below reads it
                failure.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        wait_for(lambda: committed_rows(project, table) == 500, 60, "the first 500 messages")
        broker.restart()
        broker.produce(topic, orders(500, start=500), partitions=2)
        wait_for(lambda: committed_rows(project, table) >= 1000 or bool(failure), 90, "the messages after the restart")
        job.stop()
        thread.join(60)
        assert not failure
        ids = pc.unique(project.catalog.read(table).column("id"))
        assert project.catalog.read(table).num_rows == 1000 and len(ids) == 1000
