"""What git says about the folder being deployed: branch, commit, uncommitted changes.

CI runners often check out a detached HEAD; then the branch comes from the
runner's own variables (GitHub's `GITHUB_HEAD_REF`/`GITHUB_REF_NAME`, GitLab's
`CI_COMMIT_REF_NAME`), so a pipeline deploys the environment of the branch it
builds, exactly as a developer's `towpath project deploy` does on their checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from towpath.deploy.errors import DeployError

CI_BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME")
"""Where CI runners name the branch of a detached checkout, in the order they are believed."""


@dataclass(frozen=True)
class GitState:
    """The checkout a deployment comes from."""

    root: Path
    branch: str | None
    """None only for a detached HEAD outside CI."""
    sha: str
    dirty: bool
    """Uncommitted changes to tracked files (or untracked files): the commit does not describe what runs."""


class NotAGitRepositoryError(DeployError):
    """The project is not inside a git checkout, so there is no branch to name an environment after."""


def git_state(folder: Path) -> GitState:
    """Branch, commit and dirtiness of the checkout holding `folder`.

    Raises:
        NotAGitRepositoryError: `folder` is not in a git checkout (or git is not installed).
    """
    if shutil.which("git") is None:
        raise NotAGitRepositoryError("git is not installed; pass --env NAME to deploy without it")
    try:
        root = Path(_git(folder, "rev-parse", "--show-toplevel"))
    except DeployError:
        raise NotAGitRepositoryError(
            f"{folder} is not in a git repository; run `git init` (environments are named after branches) "
            "or pass --env NAME"
        ) from None
    try:
        sha = _git(folder, "rev-parse", "HEAD")
    except DeployError:
        raise DeployError(f"the git repository at {root} has no commit yet; commit the project first") from None
    branch: str | None = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":  # detached: CI checks out the commit, and says the branch in a variable
        branch = next((os.environ[v] for v in CI_BRANCH_VARIABLES if os.environ.get(v)), None)
    dirty = bool(_git(folder, "status", "--porcelain", "--", "."))
    return GitState(root, branch, sha, dirty)


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeployError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()
