"""A sample project in a real git repository, with production run once."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_case import ROWS_PER_DAY, commit_all, git

from towpath.project import Project


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project (the `sql` sample, small synthetic source days) committed on `main` of a new git repository."""
    from towpath.samples import sample_workflow

    root = tmp_path / "repo"
    Project.init(root, name="deploy")
    sample_workflow("sql", root / "wf")
    main = root / "wf" / "main.sch.yaml"
    main.write_text(main.read_text().replace('SOURCE_ROWS_PER_DAY: "200000"', f'SOURCE_ROWS_PER_DAY: "{ROWS_PER_DAY}"'))
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "the sample")
    return root


@pytest.fixture
def prod(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Production with 2022-01-01 published."""
    monkeypatch.delenv("TOWPATH_ENV", raising=False)
    project = Project(repo, env="main")
    result = project.run(repo / "wf" / "main.sch.yaml", date="2022-01-01")
    assert result.status == "success", result.error
    return project
