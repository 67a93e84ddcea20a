"""Shared constants and helpers of the sample tests (a uniquely named module: a bare `conftest`
import can resolve to another test folder's conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DATE = "2022-01-01"
USER = "ci_user"
"""Every sample here is generated for this user (`TOWPATH_USER`), so the names are predictable."""


def towpath_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `towpath` console script in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "towpath.cli.main", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, "TOWPATH_USER": USER, **(env or {})},
    )


def run_generated_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    """`pytest src` in a generated sample, as its README says, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "src", "-q", "-p", "no:cacheprovider"],
        cwd=folder, capture_output=True, text=True, check=False,
    )
