"""The scheduler service: one per project, catch-up, concurrency, retries, recovery notices, stop, metrics.

Dailies here run a one-step main whose Python job records what it did in files under the
project, so each test sees real runs in real child processes, in seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import services
from towpath.project import Project
from towpath.state import LeaseHeldError
from towpath.workflows import SchedulerOptions, SchedulerService
from towpath.workflows.scheduler import TICK_KEY

JOB = '''
import json, os, pathlib, time

def run(ctx):
    root = pathlib.Path(os.environ.get("JOB_ROOT", "."))
    name = ctx.params["NAME"]
    log = root / "log.jsonl"
    if name == "flaky" and not (root / "flaky.ok").exists():
        (root / "flaky.ok").touch()
        raise RuntimeError("first attempt fails")
    with log.open("a") as out:
        out.write(json.dumps({"name": name, "date": ctx.execution_date, "event": "start", "t": time.time()}) + "\\n")
    if name == "slow":
        deadline = time.time() + 60
        while not (root / "release").exists() and time.time() < deadline:
            time.sleep(0.02)
    if name.startswith("pair"):
        time.sleep(1.0)
    with log.open("a") as out:
        out.write(json.dumps({"name": name, "date": ctx.execution_date, "event": "end", "t": time.time()}) + "\\n")
'''


def add_daily(root: Path, name: str, schedule: str = "0 6 * * *") -> None:
    (root / "job.py").write_text(JOB)
    (root / f"{name}_main.sch.yaml").write_text(
        f"id: {name}_main\nparams: {{NAME: {name}}}\nsteps:\n"
        "  - job: {id: j, type: python, callable: 'job.py:run'}\n"
    )
    (root / f"{name}.sch.yaml").write_text(
        f"id: {name}\ntype: daily\nworkflow: {name}_main.sch.yaml\nschedule: \"{schedule}\"\n"
        "lookback_days: 0\ntimezone: UTC\n"
    )


def log_of(root: Path) -> list[dict[str, object]]:
    path = root / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def service(project: Project, clock: dt.datetime | None = None, **options: object) -> SchedulerService:
    root = project.root
    now = clock or dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)
    return SchedulerService(project, lambda: Project(root), SchedulerOptions(**options),  # type: ignore[arg-type]
                            clock=lambda: now)


@pytest.fixture(autouse=True)
def job_root(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOB_ROOT", str(project.root))
    return project.root


def test_a_due_daily_fires_once_in_its_own_process(project):
    add_daily(project.root, "alpha")
    [outcome] = service(project).run(once=True)
    assert (outcome.workflow_id, outcome.today, outcome.ok) == ("alpha", "2022-01-03", True)
    assert service(project).run(once=True) == []  # the tick is recorded: not fired twice
    [daily] = project.state.list_runs(kind="daily")
    assert daily.pid != os.getpid()  # it ran in a child process


def test_catchup_all_fires_every_missed_slot_oldest_first_and_latest_only_the_newest(project):
    add_daily(project.root, "alpha")
    service(project, dt.datetime(2022, 1, 2, 7, 0, tzinfo=dt.UTC)).run(once=True)  # last fired: the 2nd
    outcomes = service(project, dt.datetime(2022, 1, 5, 7, 0, tzinfo=dt.UTC), catchup="all").run(once=True)
    assert [o.today for o in outcomes] == ["2022-01-03", "2022-01-04", "2022-01-05"]
    add_daily(project.root, "beta")
    service(project, dt.datetime(2022, 1, 2, 7, 0, tzinfo=dt.UTC)).run(once=True)
    later = service(project, dt.datetime(2022, 1, 9, 7, 0, tzinfo=dt.UTC), catchup="latest").run(once=True)
    assert sorted((o.workflow_id, o.today) for o in later) == [("alpha", "2022-01-09"), ("beta", "2022-01-09")]


def test_catchup_none_skips_slots_missed_while_no_scheduler_ran(project):
    add_daily(project.root, "alpha")
    service(project, dt.datetime(2022, 1, 2, 7, 0, tzinfo=dt.UTC)).run(once=True)
    assert service(project, dt.datetime(2022, 1, 5, 7, 0, tzinfo=dt.UTC), catchup="none").run(once=True) == []
    [last] = project.state.list_runs(kind="daily", limit=1)
    assert last.params[TICK_KEY].startswith("2022-01-02")


def test_the_loop_fires_each_new_tick_on_a_driven_clock(project):
    add_daily(project.root, "alpha")
    times = iter([dt.datetime(2022, 1, 2, 7, 0, tzinfo=dt.UTC), dt.datetime(2022, 1, 2, 19, 0, tzinfo=dt.UTC),
                  dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)])
    root = project.root
    first = next(times)
    clock = {"now": first}

    def tick() -> dt.datetime:
        now = clock["now"]
        clock["now"] = next(times, now)
        return now

    outcomes = SchedulerService(project, lambda: Project(root), SchedulerOptions(interval=0.05), clock=tick).run(
        checks=4
    )
    assert [(o.today, o.ok) for o in outcomes] == [("2022-01-02", True), ("2022-01-03", True)]


def test_max_concurrent_runs_firings_side_by_side(project):
    add_daily(project.root, "pair_a")
    add_daily(project.root, "pair_b")
    outcomes = service(project, max_concurrent=2).run(once=True)
    assert all(o.ok for o in outcomes) and len(outcomes) == 2
    events = {(e["name"], e["event"]): e["t"] for e in log_of(project.root)}
    assert events["pair_a", "start"] < events["pair_b", "end"] and events["pair_b", "start"] < events["pair_a", "end"]


def test_one_at_a_time_by_default(project):
    add_daily(project.root, "pair_a")
    add_daily(project.root, "pair_b")
    service(project).run(once=True)
    events = sorted(log_of(project.root), key=lambda e: e["t"])  # type: ignore[arg-type,return-value]
    assert [e["event"] for e in events] == ["start", "end", "start", "end"]


def test_a_failed_firing_is_retried_with_backoff_and_its_recovery_is_noticed(project):
    (project.root / "towpath.yaml").write_text(
        (project.root / "towpath.yaml").read_text()
        + "notifications:\n  channels:\n    - {type: file, path: outbox}\n"
    )
    add_daily(project.root, "flaky")
    started = time.monotonic()
    first, second = service(project, retries=2, retry_delay=0.3).run(once=True)
    assert (first.ok, first.attempt, first.retry_in_s) == (False, 1, 0.3)
    assert "first attempt fails" in (first.error or "")
    assert (second.ok, second.attempt) == (True, 2)
    assert time.monotonic() - started >= 0.3
    notices = [json.loads(p.read_text()) for p in (project.root / "outbox").glob("*.json")]
    assert {n["kind"] for n in notices} >= {"recovery"}
    [recovery] = [n for n in notices if n["kind"] == "recovery"]
    assert recovery["data"]["workflow_id"] == "flaky" and recovery["data"]["attempt"] == 2


def test_retries_stop_after_the_limit(project):
    (project.root / "job.py").write_text("def run(ctx):\n    raise RuntimeError('always')\n")
    (project.root / "bad_main.sch.yaml").write_text("id: bad_main\nsteps:\n  - job: {id: j, type: python, callable: 'job.py:run'}\n")
    (project.root / "bad.sch.yaml").write_text(
        "id: bad\ntype: daily\nworkflow: bad_main.sch.yaml\nschedule: \"0 6 * * *\"\nlookback_days: 0\ntimezone: UTC\n"
    )
    svc = service(project, retries=2, retry_delay=0.05)
    outcomes = svc.run(once=True)
    assert [(o.attempt, o.ok, o.retry_in_s) for o in outcomes] == [(1, False, 0.05), (2, False, 0.1), (3, False, None)]
    metrics = svc.metrics_text()
    assert 'towpath_scheduler_firings_total{result="failed",workflow="bad"} 3.0' in metrics
    assert 'towpath_scheduler_retries_total{workflow="bad"} 2.0' in metrics


def test_a_second_scheduler_refuses_naming_the_first(project):
    lease = project.state.leases.acquire("scheduler", ttl_s=60)
    try:
        with pytest.raises(LeaseHeldError, match=f"pid {os.getpid()} on "):
            service(project).run(once=True)
        proc = subprocess.run([sys.executable, "-m", "towpath.cli.launch", "-C", str(project.root), "schedule",
                               "run", "--once"], capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 1 and f"held by pid {os.getpid()}" in proc.stderr
    finally:
        project.state.leases.release(lease)
    assert service(project).run(once=True) == []  # free again


def test_the_lease_of_a_dead_scheduler_is_taken_over(project):
    code = "import sys; from towpath.project import Project; Project(sys.argv[1]).state.leases.acquire('scheduler', ttl_s=60)"
    subprocess.run([sys.executable, "-c", code, str(project.root)], check=True, timeout=120)
    holder = project.state.leases.holder("scheduler", ttl_s=60)
    assert holder is None  # its process is gone
    assert service(project).run(once=True) == []


def schedule_process(project: Project, *args: str, metrics_port: int | None = None) -> subprocess.Popen[str]:
    extra = ["--metrics-port", str(metrics_port)] if metrics_port else []
    return subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.launch", "-C", str(project.root), "schedule", "run", "--interval", "0.1",
         *extra, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JOB_ROOT": str(project.root)},
    )


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sigterm_lets_the_running_firing_finish_and_serves_metrics_until_then(project):
    add_daily(project.root, "slow", schedule="* * * * *")
    port = services.free_port()
    proc = schedule_process(project, metrics_port=port)
    wait_for(lambda: any(e["event"] == "start" for e in log_of(project.root)))
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert "towpath_scheduler_running 1.0" in metrics
    proc.send_signal(signal.SIGTERM)
    (project.root / "release").touch()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "fired slow" in stdout and "success" in stdout
    [daily] = project.state.list_runs(kind="daily")
    assert daily.status == "success"
    assert project.state.leases.holder("scheduler", ttl_s=60) is None


def test_sigterm_with_on_stop_cancel_interrupts_and_records_it(project):
    add_daily(project.root, "slow", schedule="* * * * *")
    proc = schedule_process(project, "--on-stop", "cancel")
    wait_for(lambda: any(e["event"] == "start" for e in log_of(project.root)))
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted" in stdout
    [daily] = project.state.list_runs(kind="daily")
    assert daily.status == "interrupted"
    assert not any(e["event"] == "end" for e in log_of(project.root))
