"""The resident worker runs a command exactly as the caller's own process would, only warm.

Every test starts a real worker (`python -m towpath.worker`) for a temp project and drives it
through the real entry point (`python -m towpath.cli.launch`), as the `towpath` script does.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from towpath.cli.launch import start_worker
from towpath.project import Project
from towpath.worker import client, protocol

PROBE = '''
import os, sys, json, pathlib

def probe(ctx):
    pathlib.Path(os.environ["PROBE_OUT"]).write_text(json.dumps({
        "cwd": os.getcwd(), "mark": os.environ.get("PROBE_MARK"), "tty": os.isatty(1),
        "pid": os.getpid(), "ppid": os.getppid(), "umask": os.umask(0o022),
    }))
'''
WAIT_FOREVER = (
    "import os, pathlib, time\n\ndef stall(ctx):\n"
    "    pathlib.Path(os.environ['STALL_MARK']).touch()\n    time.sleep(600)\n"
)


def launch(*args: str, cwd: Path, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    """`towpath ARGS` through the real entry point, with the worker allowed."""
    return subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.launch", *args], cwd=cwd, text=True,
        env={**os.environ, "TOWPATH_WORKER": "manual", **(env or {})}, **kwargs,  # type: ignore[call-overload]
    )


def wait_for(condition: object, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def commands_run(root: Path) -> int:
    facts = client.info(root)
    assert facts is not None, "the worker is not running"
    return int(facts["commands"])


@pytest.fixture
def worker(project: Project) -> Iterator[Path]:
    """A running worker for `project`; stopped (and waited for) afterwards."""
    assert start_worker(project.root, idle_seconds=300, wait=60)
    pid = int(client.info(project.root)["pid"])  # type: ignore[index]
    yield project.root
    client.request(project.root, {"op": "stop", "now": True})
    wait_for(lambda: not _alive(pid), what="the worker to exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def write_workflow(root: Path, name: str, job: str, module: str, source: str) -> Path:
    (root / f"{module}.py").write_text(source)
    path = root / f"{name}.sch.yaml"
    path.write_text(f"id: {name}\nsteps:\n  - job: {{id: j, type: python, callable: '{module}.py:{job}'}}\n")
    return path


def test_a_command_runs_in_the_worker_with_the_callers_folder_environment_terminal_and_umask(worker, tmp_path):
    workflow = write_workflow(worker, "probe", "probe", "probe", PROBE)
    out = tmp_path / "probe.json"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    primary, secondary = pty.openpty()  # the caller's stdout is a terminal
    old_umask = os.umask(0o027)
    try:
        proc = launch("workflow", "run", str(workflow), "--date", "2022-01-01", cwd=elsewhere,
                      env={"PROBE_OUT": str(out), "PROBE_MARK": "from-the-caller"}, stdout=secondary)
    finally:
        os.umask(old_umask)
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(120) == 0
    os.close(primary)

    facts = json.loads(out.read_text())
    assert facts["cwd"] == str(elsewhere)
    assert facts["mark"] == "from-the-caller"
    assert facts["tty"] is True
    assert facts["umask"] == 0o027
    assert facts["ppid"] == client.info(worker)["pid"]  # a fork of the worker, not a new interpreter
    assert commands_run(worker) == 1
    assert b"probe 2022-01-01" in output  # the run's own summary reached the caller's terminal


def test_the_exit_code_and_the_error_reach_the_caller(worker):
    proc = launch("table", "show", "no_such.table", "--json", cwd=worker, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert json.loads(stdout)["type"] == "TableNotFoundError"
    assert commands_run(worker) == 1


def test_ctrl_c_interrupts_the_command_in_the_worker_and_exits_130(worker):
    workflow = write_workflow(worker, "stall", "stall", "stall", WAIT_FOREVER)
    mark = worker / "stalling"
    proc = launch("workflow", "run", str(workflow), "--date", "2022-01-01", cwd=worker,
                  env={"STALL_MARK": str(mark)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(mark.exists, what="the run's job to start")  # not the state store: polling it would contend
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    wait_for(lambda: client.info(worker)["busy"] == 0, what="the worker to reap the command")  # type: ignore[index]


def test_kill_9_of_the_caller_kills_its_command_too(worker):
    workflow = write_workflow(worker, "stall", "stall", "stall", WAIT_FOREVER)
    proc = launch("workflow", "run", str(workflow), "--date", "2022-01-01", cwd=worker,
                  env={"STALL_MARK": str(worker / "stalling")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: client.info(worker)["busy"] == 1, what="the command to start")  # type: ignore[index]
    proc.kill()
    proc.wait()
    wait_for(lambda: client.info(worker)["busy"] == 0, what="the worker to kill the orphaned command")  # type: ignore[index]


def test_the_worker_refuses_a_command_from_another_interpreter(worker):
    sock = client.connect(worker)
    assert sock is not None
    with sock, open(os.devnull, "r+b") as null:
        protocol.send(sock, {
            "op": "run", "argv": ["table", "list"], "cwd": str(worker), "env": {}, "umask": 0o022,
            "executable": "/some/other/venv/bin/python", "towpath": str(Path(protocol.__file__).parents[1]),
        }, fds=[null.fileno()] * 3)
        reply, _ = protocol.receive(sock)
    assert reply == {"refused": "mismatch"}  # the client then runs the command itself
    assert commands_run(worker) == 0


def test_an_edit_to_towpath_makes_the_worker_refuse_and_stop(worker):
    import towpath.worker.protocol as module

    source = Path(module.__file__)
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    try:
        proc = launch("table", "list", "--json", cwd=worker, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert proc.returncode == 0, stderr
    assert json.loads(stdout) == []  # it ran in-process
    wait_for(lambda: not protocol.socket_path(worker).exists(), what="the stale worker to stop")


def test_one_worker_per_project(worker):
    proc = subprocess.run([sys.executable, "-m", "towpath.worker", str(worker), "--entry", "towpath.cli.main:main"],
                          capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 1
    assert "already serves" in proc.stderr
    assert client.info(worker) is not None  # the running one is untouched


def test_an_idle_worker_stops_and_cleans_up(project):
    assert start_worker(project.root, idle_seconds=0.5, wait=60)
    wait_for(lambda: not protocol.socket_path(project.root).exists(), what="the idle worker to stop")
    assert not protocol.pid_path(project.root).exists()


def test_a_workflow_run_starts_the_worker_and_the_next_command_uses_it(project, tmp_path):
    workflow = write_workflow(project.root, "probe", "probe", "probe", PROBE)
    env = {"TOWPATH_WORKER": "auto", "PROBE_OUT": str(tmp_path / "out.json")}
    first = launch("workflow", "run", str(workflow), "--date", "2022-01-01", cwd=project.root, env=env,
                   stdout=subprocess.DEVNULL)
    assert first.wait(120) == 0
    try:
        wait_for(lambda: client.info(project.root) is not None, what="the worker to start")
        second = launch("workflow", "run", str(workflow), "--date", "2022-01-02", cwd=project.root, env=env,
                        stdout=subprocess.DEVNULL)
        assert second.wait(120) == 0
        assert commands_run(project.root) == 1
    finally:
        client.request(project.root, {"op": "stop", "now": True})
        wait_for(lambda: not protocol.socket_path(project.root).exists(), what="the worker to stop")


def test_no_worker_and_worker_off_run_in_process(worker):
    for args, env in ((["--no-worker", "table", "list"], {}), (["table", "list"], {"TOWPATH_WORKER": "off"})):
        proc = launch(*args, cwd=worker, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    assert commands_run(worker) == 0


def test_worker_status_and_stop_through_the_cli(worker):
    status = subprocess.run([sys.executable, "-m", "towpath.cli.launch", "worker", "status", "--json"], cwd=worker,
                            capture_output=True, text=True, timeout=120, check=False)
    facts = json.loads(status.stdout)
    assert facts["running"] is True and facts["root"] == str(worker) and facts["busy"] == 0
    stop = subprocess.run([sys.executable, "-m", "towpath.cli.launch", "worker", "stop"], cwd=worker,
                          capture_output=True, text=True, timeout=120, check=False)
    assert stop.returncode == 0 and "stops" in stop.stdout
    wait_for(lambda: client.info(worker) is None, what="the worker to stop")


def test_a_command_reads_what_changed_since_the_worker_warmed_up(project, tmp_path):
    """The worker parses tables and YAML files ahead; a command still sees a later commit and a later edit."""
    import pyarrow as pa

    project.catalog.ensure_namespace("db")
    project.catalog.iceberg.create_table("db.t", schema=pa.schema([pa.field("n", pa.int64())]))
    project.catalog.write("db.t", pa.table({"n": pa.array([1, 2], pa.int64())}))
    workflow = write_workflow(project.root, "probe", "probe", "probe", PROBE)
    assert start_worker(project.root, idle_seconds=300, wait=60)
    try:
        project.catalog.write("db.t", pa.table({"n": pa.array([3], pa.int64())}))  # after the warm-up
        query = launch("query", "SELECT COUNT(*) AS n_rows, MAX(n) AS top FROM db.t", "--json", cwd=project.root,
                       stdout=subprocess.PIPE)
        stdout, _ = query.communicate(timeout=120)
        assert query.returncode == 0
        assert json.loads(stdout) == [{"n_rows": 3, "top": 3}]

        (project.root / "other.py").write_text(PROBE.replace("def probe", "def other"))
        workflow.write_text(workflow.read_text().replace("probe.py:probe", "other.py:other"))
        out = tmp_path / "out.json"
        run = launch("workflow", "run", str(workflow), "--date", "2022-01-01", cwd=project.root,
                     env={"PROBE_OUT": str(out)}, stdout=subprocess.DEVNULL)
        assert run.wait(120) == 0
        assert out.exists()  # the edited step ran: `probe.py` has no `other`
        assert commands_run(project.root) == 2
    finally:
        client.request(project.root, {"op": "stop", "now": True})
        wait_for(lambda: not protocol.socket_path(project.root).exists(), what="the worker to stop")
