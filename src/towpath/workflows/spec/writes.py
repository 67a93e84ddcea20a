"""Who writes which table: the static check that a workflow cannot bypass its WAP templates.

A write job inside a WAP template that writes a table the template does not
publish would land on `main` unaudited; a step outside the template that writes
a table the template publishes would skip its audits. Both are refused when
the workflow is loaded, before anything runs, unless the outside step says
`wap: false`. What a job writes comes from its job type (`JobType.writes`), so
a plugin's job type is checked like a built-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from towpath.workflows.spec.graph import Problem, step_loc
from towpath.workflows.spec.workflow import TemplateStep, WorkflowSpec

__all__ = ["wap_problems"]


def _table(name: str) -> str:
    """The catalog's normal form of a table name (as written, lower-cased, when it is not qualified)."""
    from towpath.catalog import normalize_identifier
    from towpath.errors import TowpathError

    try:
        return normalize_identifier(name)
    except TowpathError:
        return name.strip().lower()


def wap_problems(spec: WorkflowSpec, workflow_dir: Path, params: Mapping[str, str]) -> list[Problem]:
    """Writes that would bypass a WAP template, each at the field that names the table."""
    from towpath.workflows.jobs import get_job_type

    problems: list[Problem] = []
    published: dict[str, str] = {}
    for i, step in enumerate(spec.steps):
        if not isinstance(step, TemplateStep):
            continue
        template = step.template
        tables = {_table(t) for t in get_job_type(template.type).publishes(template)}
        published.update(dict.fromkeys(tables, template.id))
        template_params = {**params, **template.parameters}
        for k, write in enumerate(step.write_steps):
            job = write.job
            job_params = {**template_params, **job.parameters}
            for table, field in get_job_type(job.type).writes(job, workflow_dir, job_params):
                if _table(table) not in tables:
                    msg = (
                        f"write job '{job.id}' writes {table}, which WAP template '{template.id}' does not "
                        f"publish (tables: {', '.join(sorted(tables))}); the write would reach main unaudited. "
                        f"Add it to the template's `tables` or move the job out of the template"
                    )
                    problems.append(((*step_loc(spec, i), "write_jobs", k, "job", field), msg))
    for i, step in enumerate(spec.steps):
        node = step.node
        if isinstance(step, TemplateStep) or getattr(node, "wap", True) is False:
            continue
        for table, field in get_job_type(node.type).writes(node, workflow_dir, {**params, **node.parameters}):
            owner = published.get(_table(table))
            if owner is not None:
                msg = (
                    f"step '{node.id}' writes {table} outside WAP template '{owner}', which publishes it only "
                    f"after its audits; move the step into the template's write_jobs, or set `wap: false` "
                    f"on it to bypass the audits on purpose"
                )
                problems.append(((*step_loc(spec, i), field), msg))
    return problems
