"""`run_project_tests`: run a project's unit tests with pytest, in a subprocess.

A subprocess, not `pytest.main()` in this process: user test modules are
imported fresh on every run (no stale modules from an earlier run in the same
interpreter), their `sys.path` and fixtures cannot leak into towpath, and the
exit code is exactly pytest's. Output is streamed as it comes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from towpath.errors import SpecError

if TYPE_CHECKING:
    from towpath.project import Project

__all__ = ["ENGINE_VARIABLE", "find_test_folders", "run_project_tests"]

ENGINE_VARIABLE = "TOWPATH_TEST_ENGINE"
"""Environment variable naming the engine `run_job` uses (`towpath project test --engine spark` sets it)."""


def find_test_folders(project: Project) -> list[Path]:
    """Every `src/` folder under the project that holds `test_*.py` files (one per sample workflow)."""
    from towpath.testing.validate import SKIPPED_DIRS

    folders = set()
    for test in project.root.rglob("test_*.py"):
        parts = test.relative_to(project.root).parts
        if test.parent.name == "src" and not any(p in SKIPPED_DIRS or p.startswith(".") for p in parts[:-1]):
            folders.add(test.parent)
    return sorted(folders)


def run_project_tests(
    project: Project,
    paths: Sequence[Path | str] = (),
    *,
    keyword: str | None = None,
    extra_args: Sequence[str] = (),
    quiet: bool = False,
    engine: str | None = None,
) -> int:
    """Run pytest on `paths` (default: `find_test_folders`) and return its exit code.

    `engine` (`duckdb`, `spark`) is the engine `run_job` uses in those tests unless a
    test names one: the same transpiled SQL checked on both engines.

    Raises:
        SpecError: a given path does not exist, or the project has no unit tests.
    """
    targets = [project.path(p) for p in paths] if paths else find_test_folders(project)
    for target in targets:
        if not target.exists():
            raise SpecError(f"no such test file or folder: {target}")
    if not targets:
        raise SpecError(
            f"no unit tests found under {project.root} (looked for src/test_*.py in each workflow folder); "
            "generate a sample with `towpath sample workflow RECIPE` to see one"
        )
    # importlib mode: every sample keeps its test in src/test_<transform>.py, so two samples of one
    # recipe have test files with the same name, which pytest's default import mode refuses.
    command = [sys.executable, "-m", "pytest", *(str(t) for t in targets), "-p", "no:cacheprovider",
               "--import-mode=importlib"]
    if keyword:
        command += ["-k", keyword]
    if quiet:
        command.append("-q")
    command += list(extra_args)
    # --rootdir keeps pytest from adopting a parent folder's config (e.g. a repo's pyproject.toml).
    command += ["--rootdir", str(project.root)]
    env = {**os.environ, ENGINE_VARIABLE: engine} if engine else None
    return subprocess.run(command, cwd=project.root, check=False, env=env).returncode
