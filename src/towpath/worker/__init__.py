"""The resident worker: a warm process per project, so a `towpath` command starts in milliseconds.

`towpath worker start|stop|status` manage it; `workflow run|daily|backfill`
start it on demand, and every `towpath` command goes through it while it runs
(`--no-worker` or `TOWPATH_WORKER=off` runs in-process). The model is the mypy
daemon, and Mercurial's chg for how a command inherits the caller's terminal.
"""

from __future__ import annotations

from towpath.worker.client import DEFAULT_IDLE_SECONDS, WorkerLostError, info, last_info, request, run, spawn

__all__ = ["DEFAULT_IDLE_SECONDS", "WorkerLostError", "info", "last_info", "request", "run", "spawn"]
