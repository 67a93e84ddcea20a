"""Run one execution of a main workflow: resolve parameters, order the steps, run and record them."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from towpath.errors import ParameterError, SpecError, TowpathError
from towpath.status import Status
from towpath.workflows.context import DeferredMarks, RunContext, Workspace
from towpath.workflows.params import PER_RUN_BUILTINS, builtin_params, execution_date_from, zone
from towpath.workflows.results import DryRun, DryRunStep, JobResult, RunResult

if TYPE_CHECKING:
    from towpath.engines import Engine
    from towpath.lineage import RunLineage, WorkflowLineage
    from towpath.workflows.spec import JobSpec

log = logging.getLogger(__name__)


def outer_params(
    project: Workspace, *, date: str | None, params: Mapping[str, str] | None, run_id: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(execution date, project params + built-ins, command-line params) for one run.

    `-p DATE=`/`-p EXECUTION_DATE=` choose the run's date (they are consumed here);
    the other per-run built-ins cannot be set from the command line.
    """
    cli = dict(params or {})
    for name in PER_RUN_BUILTINS:
        if name in cli and name not in ("DATE", "EXECUTION_DATE"):
            raise ParameterError(f"'{name}' is computed for every run and cannot be set", field=f"-p {name}")
    timezone = cli.get("EXECUTION_TIMEZONE") or project.config.timezone
    try:
        zone(timezone)
    except ParameterError as exc:
        raise ParameterError(exc.msg, field="-p EXECUTION_TIMEZONE" if "EXECUTION_TIMEZONE" in cli else "timezone") from None
    execution_date = execution_date_from(date, cli, timezone)
    base = {
        **project.config.params,
        **builtin_params(execution_date=execution_date, timezone=timezone, catalog=project.config.name, run_id=run_id),
    }
    cli.pop("DATE", None)
    cli.pop("EXECUTION_DATE", None)
    return execution_date, base, cli


def load_main(
    project: Workspace, path: Path, *, date: str | None, params: Mapping[str, str] | None, run_id: str
) -> tuple[Any, str]:
    """Load a main workflow with every parameter layer applied; refuse daily/backfill files."""
    from towpath.workflows.loader import load_workflow
    from towpath.workflows.spec import WorkflowSpec

    execution_date, base, cli = outer_params(project, date=date, params=params, run_id=run_id)
    spec = load_workflow(path, base, cli_params=cli)
    if not isinstance(spec, WorkflowSpec):
        kind = getattr(spec, "type", "?")
        raise SpecError(
            f"this is a '{kind}' workflow; run it with `towpath workflow {kind} {path}`", file=path, field="type"
        )
    return spec, execution_date


def run_workflow(
    project: Workspace,
    path: Path,
    *,
    date: str | None = None,
    params: Mapping[str, str] | None = None,
    dry_run: bool = False,
    kind: str = "main",
    parent_run_id: str | None = None,
    engine: Engine | None = None,
    inherited: Mapping[str, str] | None = None,
    deferred_marks: DeferredMarks | None = None,
) -> RunResult | DryRun:
    """Run the main workflow at `path` once for `date`; every run and job run is recorded.

    `deferred_marks` (set by daily and backfill runs) collects the run's `hwm`
    steps instead of setting the marks, so the parent sets each mark once.
    Ctrl-C records the run (and the step it stopped) as `interrupted`, then re-raises.
    The run id is allocated before the workflow is loaded, so `${RUN_ID}` resolves
    like every other built-in. Nothing runs (and nothing is recorded) until the
    preflight found no problem in any step (`towpath.workflows.preflight`).

    Args:
        params: the command line's `-p` parameters; each must be used by some step.
        inherited: parameters a daily or backfill file passes down (the same layer
            as `params`, but not required to be used).

    Raises:
        SpecError: the workflow does not load or its preflight found problems (`SpecErrors`
            lists them all).
    """
    from towpath.state import new_run_id
    from towpath.workflows.preflight import preflight

    run_id = new_run_id()
    given = {**(inherited or {}), **(params or {})}
    spec, execution_date = load_main(project, path, date=date, params=given, run_id=run_id)
    static = preflight(project, spec, cli_params=params)
    if dry_run:
        return plan(project, spec, path, execution_date)
    store = project.state
    lineage = run_lineage(project, static, run_id=run_id, execution_date=execution_date)
    store.start_run(
        spec.id, kind=kind, params=dict(spec.resolved_params), execution_date=execution_date,
        parent_run_id=parent_run_id, run_id=run_id, workflow_path=str(path), graph=spec.dag(),
    )
    lineage.run_started()
    own_engine = engine is None
    engine = engine or project.new_engine()
    ctx = RunContext(
        config=project.config, catalog=project.catalog, state=store, engine=engine, run_id=run_id,
        workflow_id=spec.id, workflow_dir=path.parent, params=spec.resolved_params, execution_date=execution_date,
        deferred_marks=deferred_marks, lineage=lineage,
    )
    started = time.perf_counter()
    result = RunResult(
        run_id=run_id, workflow_id=spec.id, execution_date=execution_date, status=Status.SUCCESS, duration_s=0.0,
        params=dict(spec.resolved_params),
    )
    try:
        for node in spec.ordered_nodes():
            if result.status != Status.SUCCESS:
                result.jobs.append(JobResult(job_id=node.id, job_type=node.type, status=Status.SKIPPED))
                continue
            job = run_node(node, ctx)
            result.jobs.append(job)
            if job.status != Status.SUCCESS:
                result.status = job.status
                result.error = f"step '{node.id}' ({node.type}) {job.status.replace('_', ' ')}: {job.error}"
    except KeyboardInterrupt:
        store.finish_run(run_id, Status.INTERRUPTED, error="interrupted (Ctrl-C)")
        lineage.run_finished(Status.INTERRUPTED, "interrupted (Ctrl-C)")
        raise
    finally:
        if own_engine:
            engine.close()
    result.duration_s = time.perf_counter() - started
    store.finish_run(run_id, result.status, error=result.error)
    lineage.run_finished(result.status, result.error)
    if any(e.kind == "table" for e in static.edges):
        _relineage(project, spec)
    return result


def _relineage(project: Workspace, spec: Any) -> None:
    """Scan the workflow again now that its run created the tables it reads (a first run's source step):
    the preflight before the run could only see them whole, not column by column."""
    from towpath.lineage import WorkflowLineage, save_static
    from towpath.workflows.preflight import check_workflow

    again = WorkflowLineage(spec.id, spec.path, spec.owner)
    if not check_workflow(project, spec, lineage=again):
        save_static(project.state, again)


def run_lineage(project: Workspace, static: WorkflowLineage, *, run_id: str, execution_date: str) -> RunLineage:
    """Store the workflow's static lineage (every run refreshes it) and start its run's dynamic lineage."""
    from towpath.lineage import OpenLineageEmitter, RunLineage, save_static

    save_static(project.state, static)
    emitter = OpenLineageEmitter.for_project(project.root, project.config.openlineage,
                                             project_name=project.config.name, catalog=project.catalog)
    return RunLineage(project.state, project.catalog, static, run_id=run_id, execution_date=execution_date,
                      emitter=emitter)


def run_node(node: Any, ctx: RunContext, *, job_id: str | None = None) -> JobResult:
    """Run one step (job or template) and record it; a `TowpathError` becomes a failed job.

    `job_id` names the record when it differs from the step's id (a WAP
    template's write jobs are `<wap>.<job>`); the context's `parent_job` and
    `attempt` tie such a record to its template.
    """
    from towpath.workflows.jobs import get_job_type

    store = ctx.state
    job_run = store.start_job(ctx.run_id, job_id or node.id, node.type, parent_job=ctx.parent_job, attempt=ctx.attempt)
    if ctx.lineage is not None:
        ctx.lineage.job_started(job_id or node.id, node.type)
    log.info("run %s: step %s (%s) started", ctx.run_id, job_id or node.id, node.type)  # `towpath -v` streams these
    started = time.perf_counter()
    node_ctx = ctx.with_params(getattr(node, "parameters", None) or {})
    try:
        job = get_job_type(node.type).run(node, replace(node_ctx, job_run=job_run))
        if ctx.attempt is None and getattr(node, "expect_rows", None) is True and job.rows_written == 0:
            # inside a WAP template the template turns this into a failed audit instead
            job.status, job.error = Status.FAILED, "wrote 0 rows, and the step says `expect_rows: true`"
    except TowpathError as exc:
        log.info("step %s failed: %s", node.id, exc)
        job = JobResult(job_id=node.id, job_type=node.type, status=Status.FAILED, error=str(exc))
    except KeyboardInterrupt:
        store.finish_job(job_run, Status.INTERRUPTED, error="interrupted (Ctrl-C)")
        if ctx.lineage is not None:
            ctx.lineage.job_finished(job_id or node.id, node.type, Status.INTERRUPTED, {}, "interrupted (Ctrl-C)")
        raise
    except Exception as exc:  # noqa: BLE001 - a bug or an unmapped third-party error: keep its traceback in the run log
        job = JobResult(
            job_id=node.id, job_type=node.type, status=Status.FAILED, error=f"{type(exc).__name__}: {exc}",
            details={"traceback": traceback.format_exc()},
        )
    job.duration_s = job.duration_s or (time.perf_counter() - started)
    rows = f", {job.rows_written:,} rows" if job.rows_written is not None else ""
    log.info("run %s: step %s %s in %.2f s%s", ctx.run_id, job_id or node.id, job.status, job.duration_s, rows)
    store.finish_job(
        job_run, job.status, rows_written=job.rows_written, snapshots=job.snapshots, error=job.error,
        details={**job.details, "warnings": job.warnings},
    )
    if ctx.lineage is not None:
        ctx.lineage.job_finished(job_id or node.id, node.type, job.status, job.snapshots, job.error)
    return job


def plan(project: Workspace, spec: Any, path: Path, execution_date: str) -> DryRun:
    """The resolved steps, parameters and planned work (a sql job's SQL) of a run, without running anything.

    What each step shows comes from its job type (`JobType.plan`), so a plugin's
    job type appears in a dry run like a built-in.
    """
    params = dict(spec.resolved_params)
    deps = spec.dependencies()
    steps = []
    for node in spec.ordered_nodes():
        details = node.model_dump(exclude_none=True, exclude={"write_jobs"})
        steps.append(DryRunStep(node.id, node.type, list(deps[node.id]), details, _planned(node, path, params)))
        for write in getattr(node, "write_jobs", None) or []:
            job = write.job
            steps.append(DryRunStep(
                f"{node.id}.{job.id}", job.type, [node.id], job.model_dump(exclude_none=True),
                _planned(job, path, {**params, **node.parameters}),
            ))
    return DryRun(spec.id, execution_date, params, steps)


def _planned(job: JobSpec, path: Path, params: dict[str, str]) -> str | None:
    """What the job's type plans to run, with the job's own parameters applied."""
    from towpath.workflows.jobs import get_job_type

    return get_job_type(job.type).plan(job, path.parent, {**params, **job.parameters})
