"""The `towpath` console entry point: the project's worker runs the command when one is up.

This runs before Click or any of towpath's heavy modules are imported, so a
command handed to the worker costs this process only the interpreter's start
and a socket round trip. Whatever the worker cannot take runs in-process, the
same code either way (`towpath.cli.main`).

`TOWPATH_WORKER` chooses: `auto` (default: use a running worker, and start one
after a `workflow run|daily|backfill`), `manual` (use one, never start one),
`off` (always in-process, like `--no-worker`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from towpath.worker import WorkerLostError, client, protocol
from towpath.worker.ending import exit_code, exit_without_teardown

AUTO_START = {("workflow", "run"), ("workflow", "daily"), ("workflow", "backfill")}
"""Commands after which a worker is started if none runs (the edit-run loop)."""

ENTRY = "towpath.cli.main:main"
"""What the worker runs for each command: the same function as an in-process run."""

WARM_MODULES = (
    "towpath.cli.main", "towpath.cli.options", "towpath.cli.render", "towpath.cli.workflow", "towpath.cli.table",
    "towpath.cli.runs", "towpath.cli.project", "towpath.project", "towpath.workflows", "towpath.workflows.loader",
    "towpath.workflows.runner", "towpath.workflows.preflight", "towpath.catalog", "towpath.state",
    "towpath.engines.duckdb", "towpath.audits", "towpath.audits.builtin", "towpath.publish", "towpath.sql",
    "pyiceberg.catalog.sql", "pyiceberg.io.pyarrow", "pyarrow", "pyarrow.compute", "pyarrow.parquet", "duckdb",
    "sqlalchemy", "sqlglot", "sqlglot.dialects.spark", "sqlglot.dialects.duckdb", "rich.console", "rich.table",
    "towpath.project:warm_up", "towpath.cli.render:warm_up",
)
"""What a `workflow run` imports (and the workflow models it builds), once in the worker; a command
imports the rest in its fork."""

_GLOBAL_FLAGS = {"-v", "--verbose", "--no-worker"}
_GLOBAL_VALUED = {"-C", "--project"}


def main() -> None:
    argv = sys.argv[1:]
    mode = os.environ.get("TOWPATH_WORKER", "auto").strip().lower()
    target = None if mode in ("off", "0", "no", "false") else route(argv)
    if target is not None:
        root, command = target
        try:
            code = client.run(root, argv)
        except WorkerLostError as exc:
            print(f"towpath: error: {exc}", file=sys.stderr)
            sys.exit(70)
        if code is not None:
            sys.exit(code)
        if mode == "auto" and command in AUTO_START:
            _run_in_process(argv, then=lambda: start_worker(root))  # leave a worker warming up for the next one
    _run_in_process(argv)


def route(argv: list[str]) -> tuple[Path, tuple[str, str]] | None:
    """The project whose worker should run `towpath argv`, and the command; None to run in-process.

    Mirrors how the CLI finds the project (`-C`, else a `workflow` command's file, else the
    current folder) without importing it; the command itself finds it again in the worker.
    """
    args = argv[: argv.index("--")] if "--" in argv else argv
    if "--no-worker" in args:
        return None
    project: str | None = None
    words: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not words and arg in _GLOBAL_VALUED and i + 1 < len(args):
            project, i = args[i + 1], i + 2
            continue
        if not words and arg.startswith("--project="):
            project = arg.partition("=")[2]
        elif not words and arg in _GLOBAL_FLAGS:
            pass
        elif not arg.startswith("-"):
            words.append(arg)
        i += 1
    if not words or words[0] == "worker":
        return None
    command = (words[0], words[1] if len(words) > 1 else "")
    if project is not None:
        start = Path(project)
    elif words[0] == "workflow" and len(words) > 2 and Path(words[2]).is_file():
        start = Path(words[2]).resolve().parent
    else:
        start = Path.cwd()
    root = protocol.find_root(start)
    return None if root is None else (root, command)


def start_worker(root: Path, *, idle_seconds: float = client.DEFAULT_IDLE_SECONDS, wait: float = 0.0) -> bool:
    """Start the CLI's worker for the project at `root` (see `towpath.worker.spawn`)."""
    return client.spawn(root, entry=ENTRY, warm=WARM_MODULES, idle_seconds=idle_seconds, wait=wait)


def _run_in_process(argv: list[str], *, then: Callable[[], object] | None = None) -> NoReturn:
    """Run the command here, then `then` (even if it failed); end without the interpreter's teardown."""
    from towpath.cli.main import main as run_in_process

    code = 0
    try:
        run_in_process(argv)
    except SystemExit as exc:
        code = exit_code(exc)
    finally:
        if then is not None:
            then()
    exit_without_teardown(code)

if __name__ == "__main__":
    main()
