"""`towpath stream run|status|reset` as a user runs them (subprocesses for signals and exit codes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from stream_data import new_topic, orders, write_spec

import services
from towpath.catalog import read_position
from towpath.cli.main import cli
from towpath.project import Project

SRC = str(Path(__file__).resolve().parents[2] / "src")


def invoke(project: Project, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["-C", str(project.root), "stream", *args])


def test_run_status_and_reset(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, orders(40, bad_every=20), partitions=2)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic)
    ran = invoke(project, "run", str(path), "--until-caught-up", "--json")
    assert ran.exit_code == 0, ran.output
    stats = json.loads(ran.output)
    assert (stats["messages"], stats["rows"], stats["dead_letters"], stats["stopped"]) == (40, 38, 2, "caught-up")
    shown = invoke(project, "status", str(path), "--json")
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    parts = sorted((p["partition"], p["committed"], p["end"], p["lag"], p["dead_letters"]) for p in status["partitions"])
    assert parts == [(0, 20, 20, 0, 0), (1, 20, 20, 0, 2)]  # messages 19 and 39 are malformed, both on partition 1
    assert status["workers"] == [] and all(p["last_commit"] for p in status["partitions"])
    text = invoke(project, "status", str(path))
    assert text.exit_code == 0 and "total lag 0; running workers: none" in text.output
    latest = invoke(project, "reset", str(path), "--to", "latest", "--json")
    assert latest.exit_code == 0, latest.output
    assert json.loads(latest.output)["after"] == {f"{topic}/0": 20, f"{topic}/1": 20}
    moved = invoke(project, "reset", str(path), "--to", "earliest")
    assert moved.exit_code == 0, moved.output
    table = f"lake.{topic.replace('-', '_')}"
    assert read_position(project.catalog, table, topic) == {f"{topic}/0": 0, f"{topic}/1": 0}
    again = invoke(project, "run", str(path), "--until-caught-up", "--json")  # re-reads everything after the reset
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["messages"] == 40 and project.catalog.read(table).num_rows == 76
    bad = invoke(project, "reset", str(path), "--to", "yesterday")
    assert bad.exit_code == 1 and "--to expects earliest, latest or an ISO timestamp" in bad.output


def test_bad_yaml_names_file_line_and_field(project: Project, kafka_broker: services.KafkaBroker) -> None:
    path = write_spec(project.root, kafka_broker.bootstrap_servers, new_topic(), window={"duration": "soon"})
    result = invoke(project, "run", str(path))
    assert result.exit_code == 1
    assert f"{path}:" in result.output and "window.duration" in result.output and "30m" in result.output
    assert "Traceback" not in result.output


def test_a_missing_topic_is_a_clear_error(project: Project, kafka_broker: services.KafkaBroker) -> None:
    path = write_spec(project.root, kafka_broker.bootstrap_servers, "no-such-topic")
    result = invoke(project, "run", str(path), "--until-caught-up")
    assert result.exit_code == 1 and "topic(s) no-such-topic do not exist" in result.output


def test_sigterm_commits_the_window_and_exits_0(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic()
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(25))
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, window={"duration": "1h"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "stream", "run", str(path), "--json"],
        env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    table = f"lake.{topic.replace('-', '_')}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the run is recorded as running once it consumes
        if project.state.list_runs(workflow_id=f"stream:{topic}", status="running"):
            break
        time.sleep(0.1)
    time.sleep(1.0)  # let it buffer the messages (the window is an hour: only the signal can commit them)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["stopped"] == "signal"
    assert project.catalog.read(table).num_rows == 25
