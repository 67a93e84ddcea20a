"""How the CLI tests run `towpath` (a uniquely named module: a bare `conftest` import can resolve
to another test folder's conftest).

`towpath(...)` runs the real root command in-process through Click's CliRunner, which
goes through the same guard as the console script (it lives in the root group's
`main`). `towpath_process(...)` runs the console script's entry point (`towpath.cli.launch`) in a fresh interpreter, for
what only a real process shows: exit codes seen by a shell, streams, TTY detection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from towpath.cli.main import cli


def towpath(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """`towpath ARGS...` in-process; `result.stdout` and `result.stderr` are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def towpath_process(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
                    ) -> subprocess.CompletedProcess[str]:
    """`towpath ARGS...` as a child process (stdout and stderr are pipes, not terminals)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")}
    return subprocess.run(
        [sys.executable, "-m", "towpath.cli.launch", *(str(a) for a in args)],
        capture_output=True, text=True, check=False, cwd=cwd, env={**clean, **(env or {})},
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]
