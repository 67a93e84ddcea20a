"""Deploy a git branch as an environment, promote an environment to production, list and drop environments.

An environment is what `towpath.environment` names and `towpath.catalog` isolates:
its own copy of each table it writes, its own runs. This module is the workflow
around that, as dbt targets, SQLMesh's `plan`/promote and lakeFS branches have
taught users to expect:

* `deploy` records what a branch deploys (commit, workflows, schedules, the tables
  they write) after the same validation `project validate` does, and can run its
  main workflows in the environment at once (`run=True`).
* `promote` refuses unless every deployed workflow's last run of each date it ran
  in the environment succeeded with no failed blocking audit, then hands production each copy's state in one
  catalog transaction (`catalog.promote_copies`); a production table that moved
  meanwhile is refused unless `force`.
* `environments` / `drop` show and remove them; a drop frees the files only the
  environment references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from towpath.deploy.errors import DeployError
from towpath.deploy.git import GitState, NotAGitRepositoryError, git_state
from towpath.environment import environment_name
from towpath.errors import UnknownNameError
from towpath.status import Status

if TYPE_CHECKING:
    from towpath.catalog import CopyCost, TablePromotion
    from towpath.project import Project
    from towpath.state import Deployment
    from towpath.workflows import RunResult

PRODUCTION = "production"
"""How the deployment ledger names production (a deploy of main/master)."""


@dataclass(frozen=True)
class DeployResult:
    """What `deploy` recorded, and the runs it started."""

    env: str | None
    """None: production."""
    deployment: Deployment
    git: GitState | None
    warnings: list[str] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(run.status == Status.SUCCESS for run in self.runs)


@dataclass(frozen=True)
class PromoteResult:
    env: str
    tables: list[TablePromotion]
    forced: bool
    deployment: Deployment
    warnings: list[str] = field(default_factory=list)
    """Non-blocking audits that failed in the environment's last runs (they do not refuse a promotion)."""


@dataclass(frozen=True)
class Environment:
    """An environment: what it last deployed, when it was promoted, and what its copies cost."""

    name: str
    deployed: Deployment | None
    promoted: Deployment | None
    tables: list[CopyCost]
    snapshots: int
    """Snapshots the copies hold that production does not."""
    files: int
    """Files only the copies reference (data, manifests, metadata)."""
    bytes: int

    @classmethod
    def of(cls, name: str, deployed: Deployment | None, promoted: Deployment | None,
           tables: list[CopyCost]) -> Environment:
        return cls(name, deployed, promoted, tables, sum(t.snapshots for t in tables), sum(t.files for t in tables),
                   sum(t.bytes for t in tables))


def deploy(
    project: Project,
    env: str | None = None,
    *,
    run: bool = False,
    date: str | None = None,
    params: Mapping[str, str] | None = None,
) -> DeployResult:
    """Deploy the project's checkout as environment `env` (default: the current git branch; main/master is production).

    Validates every workflow first (a project with problems deploys nothing), then
    records the deployment in the state room; with `run`, runs each main workflow
    once for `date` in the environment.

    Raises:
        NotAGitRepositoryError: no `env` was given and the project is not in a git checkout.
        DeployError: the project has validation problems, or HEAD is detached outside CI.
    """
    from towpath.testing import validate_project

    git: GitState | None
    try:
        git = git_state(project.root)
    except NotAGitRepositoryError:
        if env is None:
            raise
        git = None
    source = env if env is not None else (git.branch if git else None)
    if source is None:
        raise DeployError("HEAD is detached and no CI variable names the branch; pass --env NAME")
    name = environment_name(source)
    target = in_env(project, name)
    warnings = []
    if git is not None and git.dirty:
        warnings.append(f"the working tree has uncommitted changes: commit {git.sha[:12]} is not exactly what deploys")
    problems = validate_project(target)
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        raise DeployError(f"{len(problems)} problem(s) found, nothing deployed: {shown}"
                          + (" ..." if len(problems) > 3 else "") + " (see `towpath project validate`)")
    mains, schedules = _workflows(target)
    ids = {workflow_id for workflow_id, _ in mains.values()}
    tables = sorted({u.table for u in target.state.lineage.uses() if u.role == "write" and u.workflow_id in ids})
    deployment = target.state.deployments.record(
        env=name or PRODUCTION, action="deploy", commit_sha=git.sha if git else None,
        branch=git.branch if git else None, dirty=bool(git and git.dirty),
        workflows=sorted(f"{wid} ({path})" for path, (wid, _) in mains.items()),
        schedules=sorted(schedules), tables=tables,
        detail={"workflow_ids": sorted(ids), "root": str(project.root)},
    )
    runs = [target.run(path, date=date, params=params) for path in sorted(mains)] if run else []
    return DeployResult(name, deployment, git, warnings, runs)


def promote(project: Project, env: str, *, force: bool = False) -> PromoteResult:
    """Production takes environment `env`'s state, per table, in one atomic commit.

    Raises:
        DeployError: `env` is production, was never deployed, or a deployed workflow did not
            run in it, or its last run of some date failed or failed a blocking audit.
        UnknownNameError: no environment is called `env` (names the closest).
        ConflictError: a production table moved since the environment branched from it (without `force`).
    """
    from towpath.catalog import promote_copies

    name = _known(project, env)
    staged = in_env(project, name)
    deployed = staged.state.deployments.latest(name)
    if deployed is None:
        raise DeployError(f"environment '{name}' was never deployed; run `towpath project deploy --env {name}` first")
    blocked, warnings = _audit_gate(staged, deployed.detail.get("workflow_ids", []))
    if blocked:
        raise DeployError(f"environment '{name}' cannot be promoted: " + "; ".join(blocked))
    production = in_env(project, None)
    plans = promote_copies(production.catalog, name, force=force)
    recorded = production.state.deployments.record(
        env=name, action="promote", commit_sha=deployed.commit_sha, branch=deployed.branch,
        workflows=deployed.workflows, schedules=deployed.schedules, tables=[p.table for p in plans],
        detail={"forced": force, "warnings": warnings, "tables": {p.table: {"before": p.production_before, "after": p.production_after,
                                                      "snapshots": p.snapshots, "moved": p.moved,
                                                      "created": p.created} for p in plans}},
    )
    return PromoteResult(name, plans, force, recorded, warnings)


def environments(project: Project) -> list[Environment]:
    """Every environment (deployed, or holding table copies), by name."""
    from towpath.catalog import copy_costs

    production = in_env(project, None)
    ledger = production.state.deployments
    out = []
    for name in _names(production):
        out.append(Environment.of(name, ledger.latest(name), ledger.latest(name, "promote"),
                                  copy_costs(production.catalog, name)))
    return out


def drop(project: Project, env: str) -> Environment:
    """Drop environment `env`'s table copies and the files only they reference; production is never touched.

    Returns what the environment held. Its runs stay in the state room's history.

    Raises:
        UnknownNameError: no environment is called `env`.
    """
    from towpath.catalog import drop_copies

    name = _known(project, env)
    production = in_env(project, None)
    ledger = production.state.deployments
    last, promoted = ledger.latest(name), ledger.latest(name, "promote")
    freed = drop_copies(production.catalog, name)
    ledger.record(env=name, action="drop", tables=[c.table for c in freed],
                  detail={"files": sum(c.files for c in freed), "bytes": sum(c.bytes for c in freed)})
    return Environment.of(name, last, promoted, freed)


def in_env(project: Project, env: str | None) -> Project:
    """The same project opened in environment `env` (None: production, whatever `$TOWPATH_ENV` says)."""
    from towpath.project import Project

    return Project(project.root, project.config, env=env or "main")


def _names(production: Project) -> list[str]:
    from towpath.environment import split_identifier

    names = {n for n in production.state.deployments.environments() if n != PRODUCTION}
    dropped = {n for n in names if (last := _last_event(production, n)) is not None and last == "drop"}
    names -= dropped
    names |= {env for t in production.catalog.list_physical_tables() if (env := split_identifier(t)[1])}
    return sorted(names)


def _last_event(production: Project, name: str) -> str | None:
    history = production.state.deployments.history(name)
    return history[-1].action if history else None


def _known(project: Project, env: str) -> str:
    name = environment_name(env)
    if name is None:
        raise DeployError(f"'{env}' is production itself; promote or drop an environment, e.g. --env feature_x")
    known = _names(in_env(project, None))
    if name not in known:
        raise UnknownNameError("environment", name, known or ["(none: run `towpath project deploy` on a branch)"])
    return name


def _audit_gate(staged: Project, workflow_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(why the environment cannot be promoted, warnings to report): its latest run of every date it ran.

    Every date a deployed workflow ran in the environment counts, not only the newest run:
    a clean rerun of one day does not hide a failed other day. A failed blocking audit or
    a run that did not succeed refuses; a non-blocking audit's failure published by design,
    so it is reported (and recorded with the promotion) without refusing.
    """
    problems: list[str] = []
    warnings: list[str] = []
    for workflow_id in workflow_ids:
        dates = staged.state.date_statuses(workflow_id=workflow_id)
        if not dates:
            problems.append(f"workflow '{workflow_id}' never ran in it (run it with --env {staged.env})")
        for day in dates:
            if day.status != Status.SUCCESS:
                problems.append(f"the last run of '{workflow_id}' for {day.execution_date} ({day.run_id}) is "
                                f"{day.status}")
                continue
            audits = staged.state.get_run(day.run_id).audits
            last_attempt = max((a.attempt or 0 for a in audits), default=0)  # a conflict retry re-audits
            for result in (a.result for a in audits if (a.attempt or 0) == last_attempt and not a.result.passed):
                what = f"{result.name} on {result.table} failed for {day.execution_date} ({day.run_id})"
                (problems if result.blocking else warnings).append(what if result.blocking else f"non-blocking {what}")
    return problems, warnings


def _workflows(project: Project) -> tuple[dict[Path, tuple[str, str]], list[str]]:
    """Main workflow file -> (id, kind), and one line per schedule (daily/backfill file) of the project."""
    from towpath.testing.validate import SKIPPED_DIRS
    from towpath.workflows.loader import load_workflow

    mains: dict[Path, tuple[str, str]] = {}
    schedules = []
    for path in sorted(project.root.rglob("*.sch.yaml")):
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in path.relative_to(project.root).parts[:-1]):
            continue
        spec = load_workflow(path, dict(project.config.params), strict=False)
        relative = path.relative_to(project.root)
        kind = str(getattr(spec, "type", "main"))
        if kind == "main":
            mains[relative] = (spec.id, kind)
        else:
            trigger = getattr(spec, "trigger", None)
            when = getattr(spec, "schedule", None) or (f"hwm of {trigger.hwm_of}" if trigger and trigger.hwm_of
                                                       else "by hand")
            schedules.append(f"{kind} {spec.id} ({relative}): {when}")
    return mains, schedules
