"""Fixtures for workflow tests (`project` and `sample` come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from towpath.project import Project


@pytest.fixture
def write_workflow(project: Project) -> Callable[..., Path]:
    """Write a workflow file (and any scripts) into the project; returns the workflow path."""

    def write(text: str, name: str = "wf.sch.yaml", files: dict[str, str] | None = None) -> Path:
        for rel, content in (files or {}).items():
            target = project.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        path = project.root / name
        path.write_text(text)
        return path

    return write
