"""Running the towpath CLI from Airflow: the one bridge between the two environments.

Airflow pins SQLAlchemy, pydantic and Flask ranges that towpath's own
dependencies (pyiceberg's SQL catalog needs SQLAlchemy 2) cannot share, so
Airflow's processes never import towpath's engine: they run `towpath ... --json`
(`towpath_bin`, e.g. a virtualenv's `bin/towpath`) and read its one JSON
document, as the dbt operators of Cosmos run dbt from its own virtualenv. Only
the standard library is used here, so a DAG file parses without towpath's
dependencies installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from towpath.errors import TowpathError

RETRYABLE_ERRORS = frozenset({"TransientError", "ConflictError", "ConnectorError", "StateError"})
"""Error types of towpath's JSON errors worth an Airflow retry; every other one (a spec, SQL or
name mistake) fails the task at once, since running it again changes nothing."""

Bin = str | Sequence[str]


class TowpathCommandError(TowpathError):
    """A towpath command failed: towpath's own one-line message, its exit code and whether a retry may help."""

    def __init__(self, message: str, *, exit_code: int | None, retryable: bool, argv: Sequence[str] = ()) -> None:
        code = f"exit code {exit_code}" if exit_code is not None else "not started"
        super().__init__(f"{message} (towpath {code})")
        self.message, self.exit_code, self.retryable, self.argv = message, exit_code, retryable, list(argv)


@dataclass(frozen=True)
class Completed:
    """What a towpath command printed (`document`: its one JSON document) and how it exited."""

    argv: list[str]
    exit_code: int
    document: Any


def towpath_argv(towpath_bin: Bin, project_dir: str | None, *args: str, verbose: bool = False) -> list[str]:
    """`[towpath_bin..., -C project_dir, [-v], *args, --json]`: every command is run with `--json`.

    `-v` makes towpath log each step as it starts and ends (on stderr, which the operator streams).
    """
    head = [towpath_bin] if isinstance(towpath_bin, str) else list(towpath_bin)
    project = ["-C", project_dir] if project_dir else []
    return [*head, *project, *(["-v"] if verbose else []), *args, "--json"]


def child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The Airflow worker's environment plus the operator's `env` (which wins)."""
    return {**os.environ, **(env or {})}


def run_towpath(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: Callable[[str], object] | None = None,
    on_start: Callable[[subprocess.Popen[str]], object] | None = None,
) -> Completed:
    """Run a towpath command, sending each stderr line to `log` as it comes; stdout is parsed as JSON.

    Raises `TowpathCommandError` when the command cannot start or prints no JSON
    document (a crash before towpath's guard). A command that ran and failed is
    returned: `check()` turns it into the error.
    """
    try:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(env),
            start_new_session=True,  # Airflow's SIGTERM of the task reaches towpath through on_kill, once
            preexec_fn=_interruptible,  # noqa: PLW1509 - it only resets a signal disposition, no lock is taken
        )
    except OSError as exc:
        raise TowpathCommandError(
            f"cannot run {argv[0]!r}: {exc.strerror or exc} (set towpath_bin to the towpath executable)",
            exit_code=None, retryable=False, argv=argv,
        ) from exc
    if on_start:
        on_start(proc)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True)
    reader.start()
    assert proc.stderr is not None
    for line in proc.stderr:
        if log:
            log(line.rstrip("\n"))
    code = proc.wait()
    reader.join()
    return Completed(list(argv), code, _document(argv, code, "".join(out)))


async def run_towpath_async(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Completed:
    """`run_towpath` on the event loop (a trigger must never block the triggerer's loop)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(env),
        )
    except OSError as exc:
        raise TowpathCommandError(
            f"cannot run {argv[0]!r}: {exc.strerror or exc} (set towpath_bin to the towpath executable)",
            exit_code=None, retryable=False, argv=argv,
        ) from exc
    try:
        stdout, _ = await proc.communicate()
    except asyncio.CancelledError:  # the trigger was cancelled (timeout, task cleared): leave no child behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    assert proc.returncode is not None
    return Completed(list(argv), proc.returncode, _document(argv, proc.returncode, stdout.decode()))


def check(done: Completed) -> Any:
    """The command's document when it succeeded; else `TowpathCommandError` with towpath's message."""
    if done.exit_code == 0:
        return done.document
    doc = done.document if isinstance(done.document, dict) else {}
    if "error" in doc and "type" in doc:  # an error document (bad spec, unknown table, usage, internal)
        message, kind = str(doc["error"]), str(doc["type"])
        retryable = done.exit_code == 70 or kind in RETRYABLE_ERRORS
    else:  # a result that failed: a run, a daily or a backfill
        message, retryable = failure_message(doc), not failed_audits(doc)
    if done.exit_code < 0 or done.exit_code == 130:
        signal_name = _signal_name(done.exit_code)
        message = f"interrupted ({signal_name})" + ("" if message.startswith("interrupted") else f": {message}")
        retryable = True
    raise TowpathCommandError(message, exit_code=done.exit_code, retryable=retryable, argv=done.argv)


def runs_of(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The main runs in a `workflow run|daily|backfill --json` document."""
    return list(doc["runs"]) if "runs" in doc else [doc]


def failed_audits(doc: Mapping[str, Any]) -> list[str]:
    """Every blocking audit that failed, in every run of the document (read from the jobs: a daily's
    or backfill's runs carry their jobs, not the top-level run's derived `failed_audits`)."""
    return [
        audit["name"] for run in runs_of(doc) for job in run.get("jobs", []) for audit in job.get("audits", [])
        if audit.get("blocking") and not audit.get("passed")
    ]


def failure_message(doc: Mapping[str, Any]) -> str:
    """towpath's own message for a failed run or daily (its `error`), or each failed date of a backfill."""
    if doc.get("failed"):  # a backfill: date -> error; the first line of each says what failed
        failed = doc["failed"]
        lines = [f"{date}: {str(error).strip().splitlines()[0]}" for date, error in sorted(failed.items())]
        return f"{len(failed)} dates of {doc.get('start')}..{doc.get('end')} failed:\n" + "\n".join(lines)
    return str(doc.get("error") or f"the run ended {doc.get('status', 'without a result')}")


def _interruptible() -> None:
    """In the child: SIGINT interrupts towpath (Ctrl-C), even where the worker ignores it (a detached daemon)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _document(argv: Sequence[str], code: int, stdout: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        tail = stdout.strip().splitlines()[-1:] or ["no output"]
        raise TowpathCommandError(
            f"{' '.join(argv)} printed no JSON document ({tail[0][:200]})",
            exit_code=code, retryable=code != 0, argv=argv,
        ) from None


def _signal_name(code: int) -> str:
    if code == 130:
        return "SIGINT"
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
