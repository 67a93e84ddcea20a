"""Job types and templates by name: a job type is one `JobType` subclass in one module.

A `JobType` carries, as class-level facts (sqlglot style), everything the rest
of towpath needs to know about it:

- `SPEC`: its pydantic spec model (whose `type` field is a `Literal` of its name);
- `run(spec, ctx)`: what it does;
- `WRITES_IN_WAP`: whether it may run among a WAP template's `write_jobs`;
- `writes(...)`: the tables it writes, so a write that would bypass a WAP is refused at load;
- `plan(...)`: what a dry run shows of it (a sql job's substituted SQL);
- `check(spec, preflight)` and `OPAQUE`: what the preflight can know about it before anything runs;
- `lineage(spec, preflight)`: what it reads and writes, for column lineage (pipeline, stream, CDC jobs);
- parameter defaults: fields whose default references a parameter (`${EXECUTION_DATE}`),
  read from `SPEC` itself.

The `- job:` and `- template:` unions, the JSON schema, the loader's defaults
and the dry run are derived from `JOB_TYPES` and `TEMPLATES`. Built-ins are
registered as lazy `module:Class` strings; a package adds its own under the
entry-point groups `towpath.job_types` and `towpath.templates` with zero edits here.
The unions are built when a workflow model is first used and then kept, so a job
type registered in code (`JOB_TYPES.register(...)`) must be registered before that.

>>> sorted(JOB_TYPES)[:3]
['audit', 'cdc', 'hwm']
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

from pydantic_core import PydanticUndefined

from towpath.config import RegisteredUnion, tagged_union
from towpath.registry import Registry

if TYPE_CHECKING:
    from towpath.workflows.context import RunContext
    from towpath.workflows.preflight import Preflight
    from towpath.workflows.results import JobResult
    from towpath.workflows.spec.base import JobSpec

__all__ = [
    "JOB_TYPES",
    "TEMPLATES",
    "JobType",
    "Write",
    "default_template",
    "get_job_type",
    "registered",
    "spec_for",
    "spec_union",
]

S = TypeVar("S", bound="JobSpec")


class Write(NamedTuple):
    """A table a job writes, and the spec field that says so (where a refused write is reported)."""

    table: str
    """As written in the workflow (`db.table` or `catalog/db/table`)."""
    field: str
    """The job's field that names it (`target`, `script`, `sink`, ...)."""


class JobType(Generic[S]):
    """One kind of step: its spec model, its runner and the facts the loader, checks and dry run read."""

    name: ClassVar[str]
    """The `type:` users write; also the registry name."""
    SPEC: ClassVar[type[JobSpec]]
    """The spec model; its `type` field is a `Literal` of `name` (with a default for a default template)."""
    WRITES_IN_WAP: ClassVar[bool] = False
    """Whether the job may run inside a WAP template's `write_jobs` (its writes then go to the branch)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A concrete job type (one that sets `name`) must bring its runner: refuse it at import,
        not at the first run that reaches it."""
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not hasattr(cls, "run"):
            raise TypeError(f"job type {cls.__qualname__} ('{cls.name}') defines no run(spec, ctx) classmethod")

    if TYPE_CHECKING:
        @classmethod
        def run(cls, spec: S, ctx: RunContext) -> JobResult:
            """Run the job; raise a `TowpathError` on failure (the runner records it)."""

    OPAQUE: ClassVar[bool] = False
    """Whether the job runs code the preflight cannot see into (Python), which may create any table:
    after it, a read of a table that does not exist yet is not reported."""

    @classmethod
    def check(cls, spec: S, preflight: Preflight) -> None:
        """Report through `preflight` what is wrong with the step, without running or writing anything.

        Called for every step in run order before a run's first step starts, and by
        `towpath project validate`. The default knows nothing beyond the spec model.
        """

    @classmethod
    def writes(cls, spec: S, workflow_dir: Path, params: Mapping[str, str]) -> list[Write]:
        """The tables the job writes data into (DDL does not count), each with the field naming it.

        Read at load time to refuse writes that would bypass a WAP template, so it
        must not run anything; return what can be known statically.
        """
        return []

    @classmethod
    def lineage(cls, spec: S, preflight: Preflight) -> None:
        """Tell `preflight.lineage` (a `towpath.lineage.WorkflowLineage`) what the step reads and writes,
        down to columns where it can be known, under the job id `preflight.job`.

        Called by the preflight right after `check`. SQL, Python and audit steps are
        covered by the `Preflight` helpers their `check` calls; a job type that moves
        data some other way (a pipeline, a stream, CDC) overrides this. The default
        reports the tables `writes()` names as written.
        """
        known = preflight.lineage.tables_of(preflight.job, "write")
        for write in cls.writes(spec, preflight.spec.path.parent if preflight.spec.path else Path.cwd(),
                                preflight.spec.resolved_params):
            ident = preflight.identifier(write.table)
            if ident is not None and ident not in known:
                preflight.lineage.write(preflight.job, ident, file=preflight.spec.path, line=preflight.line_of(write.field))

    @classmethod
    def publishes(cls, spec: S) -> list[str]:
        """For a template: the tables it stages and publishes only after its audits pass (WAP's
        `tables`). Its write jobs may write only these, and no other step may write them."""
        return []

    @classmethod
    def plan(cls, spec: S, workflow_dir: Path, params: Mapping[str, str]) -> str | None:
        """What `--dry-run` shows besides the spec (a sql job's SQL with parameters substituted)."""
        return None

    @classmethod
    def param_defaults(cls) -> dict[str, str]:
        """Fields whose default references parameters (`${EXECUTION_DATE}`): the loader fills them in
        before substitution, so they resolve like values written in the file."""
        return {
            name: field.default
            for name, field in cls.SPEC.model_fields.items()
            if isinstance(field.default, str) and "${" in field.default
        }


JOB_TYPES: Registry[type[JobType[Any]]] = Registry("job type", group="towpath.job_types")
"""Every `type` of a `- job:` step."""
for _name, _target in {
    "audit": "towpath.workflows.jobs.audit:AuditJob",
    "cdc": "towpath.workflows.jobs.cdc:CdcJob",
    "hwm": "towpath.workflows.jobs.hwm:HwmJob",
    "metadata": "towpath.workflows.jobs.metadata:MetadataJob",
    "move": "towpath.workflows.jobs.move:MoveJob",
    "pipeline": "towpath.workflows.jobs.pipeline:PipelineJob",
    "pyspark": "towpath.workflows.jobs.python:PySparkJob",
    "python": "towpath.workflows.jobs.python:PythonJob",
    "sql": "towpath.workflows.jobs.sql:SqlJob",
    "stream": "towpath.workflows.jobs.stream:StreamJobType",
    "wait": "towpath.workflows.jobs.wait:WaitJob",
}.items():
    JOB_TYPES.register(_name, _target)

TEMPLATES: Registry[type[JobType[Any]]] = Registry("template", group="towpath.templates")
"""Every `type` of a `- template:` step."""
TEMPLATES.register("wap", "towpath.workflows.jobs.wap:WapTemplate")


def get_job_type(name: str) -> type[JobType[Any]]:
    """The job type or template called `name`.

    Raises:
        UnknownNameError: neither a job type nor a template ("Did you mean ...").
    """
    return TEMPLATES.get(name) if name in TEMPLATES else JOB_TYPES.get(name)


def default_template() -> str | None:
    """The template a `- template:` without `type` is (the one whose spec gives `type` a default)."""
    for name, template in TEMPLATES.items():
        if template.SPEC.model_fields["type"].default is not PydanticUndefined:
            return name
    return None


UnionKind = Literal["job", "write", "template"]


@functools.cache
def spec_union(kind: UnionKind) -> Any:
    """The discriminated union of registered spec models for a `- job:` body, a WAP write job or a
    `- template:` body. Built on first use (so plugins are in it) and cached."""
    registry = TEMPLATES if kind == "template" else JOB_TYPES
    members = {name: jt.SPEC for name, jt in registry.items() if kind != "write" or jt.WRITES_IN_WAP}
    if kind == "write":
        message = f"a WAP write job must have type: {' or '.join(members)}"
    else:
        message = f"unknown {'template' if kind == 'template' else 'job'} type; expected one of: {', '.join(members)}"
    return tagged_union(
        members, suffix="job", error_type=f"unknown_{kind}_type", message=message,
        default=default_template() if kind == "template" else None,
    )


def spec_for(kind: UnionKind, data: Any) -> type[JobSpec] | None:
    """The spec model a step body would be validated as (None for an unknown `type`)."""
    registry = TEMPLATES if kind == "template" else JOB_TYPES
    name = data.get("type", default_template() if kind == "template" else None) if isinstance(data, Mapping) else None
    return registry.get(name).SPEC if isinstance(name, str) and name in registry else None


def registered(kind: UnionKind) -> RegisteredUnion:
    """The annotation marker of a field holding a step body of `kind`."""
    return RegisteredUnion(functools.partial(spec_union, kind), functools.partial(spec_for, kind))
