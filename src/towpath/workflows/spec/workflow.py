"""Workflow files (`*.sch.yaml`) as pydantic models: main, daily and backfill.

The shapes follow Netflix Dataflow's workflow definitions: a *main* workflow is
one execution (typically one date) made of `- job:` and `- template:` steps; a
*daily* workflow runs main on a schedule for today and a few days back; a
*backfill* workflow runs main over a date range.

A step's body is validated against the union of the registered job types (or
templates) — see `towpath.workflows.jobs` — so these models never list job
types themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from towpath.config import invalid
from towpath.config.project import NotificationsConfig
from towpath.errors import SpecError
from towpath.workflows.spec.base import Id, JobSpec, SpecModel, text_mapping
from towpath.workflows.spec.compat import normalize_job

if TYPE_CHECKING:
    from towpath.workflows.jobs import UnionKind

__all__ = [
    "BackfillSpec",
    "DailySpec",
    "JobStep",
    "PlacedJob",
    "Step",
    "TemplateStep",
    "TriggerSpec",
    "WorkflowFile",
    "WorkflowSpec",
    "WriteJobStep",
]


def _registered(kind: UnionKind) -> Any:
    """The marker that validates a step body as the registry's union (imported late: no cycle)."""
    from towpath.workflows.jobs import registered

    return registered(kind)


class _StepBase(SpecModel):
    """A `- job:` or `- template:` entry: one key whose value is the job or template."""

    KEY: ClassVar[str]
    """The step's YAML key (`job` or `template`)."""

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and cls.KEY in data:
            return {**data, cls.KEY: normalize_job(data[cls.KEY])}
        return data

    @property
    def node(self) -> JobSpec:
        """The job or template inside the step."""
        node: JobSpec = getattr(self, self.KEY)
        return node

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def type(self) -> str:
        return self.node.type

    @property
    def depends_on(self) -> list[str] | None:
        return self.node.depends_on


class WriteJobStep(_StepBase):
    """A `- job:` inside a WAP template's `write_jobs` (a job type with `WRITES_IN_WAP`)."""

    KEY: ClassVar[str] = "job"
    job: Annotated[JobSpec, _registered("write")]


class JobStep(_StepBase):
    """`- job: {...}`."""

    KEY: ClassVar[str] = "job"
    job: Annotated[JobSpec, _registered("job")]


class TemplateStep(_StepBase):
    """`- template: {...}` (built in: `type: wap`)."""

    KEY: ClassVar[str] = "template"
    template: Annotated[JobSpec, _registered("template")]

    @property
    def write_steps(self) -> list[WriteJobStep]:
        """The template's `write_jobs` (empty for a template without them)."""
        steps: list[WriteJobStep] = getattr(self.template, "write_jobs", [])
        return steps


def _step_kind(data: Any) -> str | None:
    if isinstance(data, Mapping):
        if "template" in data:
            return "template"
        if "job" in data:
            return "job"
    if isinstance(data, (JobStep, TemplateStep)):
        return "template" if isinstance(data, TemplateStep) else "job"
    return None


Step = Annotated[
    Annotated[JobStep, Tag("job")] | Annotated[TemplateStep, Tag("template")],
    Discriminator(_step_kind, custom_error_type="invalid_step", custom_error_message="expected `job:` or `template:`"),
]
"""One entry of `steps`."""


class PlacedJob(NamedTuple):
    """A job with the step it belongs to (a WAP template for its write jobs)."""

    step: JobStep | TemplateStep
    job: JobSpec


class _WorkflowBase(SpecModel):
    """What every workflow file has, plus where it was loaded from."""

    id: Id
    """Unique name of the workflow; runs are recorded under it."""
    description: str | None = None
    """What the workflow produces."""
    owner: str | None = None
    """Who answers for it: an address or a team alias of `towpath.yaml`'s `notifications.owners`
    (migrations tell the owners of the workflows a change affects)."""
    params: dict[str, str] = Field(default_factory=dict)
    """Workflow parameters; values may reference each other and the project's and built-in parameters."""

    _path: Path | None = PrivateAttr(default=None)
    _resolved_params: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _text_params(cls, value: Any) -> Any:
        return text_mapping(value)

    @property
    def path(self) -> Path | None:
        """The file this spec was loaded from (None when built in Python)."""
        return self._path

    @property
    def resolved_params(self) -> dict[str, str]:
        """Every parameter of the run after layering and `${...}` resolution."""
        return dict(self._resolved_params) if self._resolved_params else dict(self.params)

    def located(self, path: Path, resolved_params: Mapping[str, str]) -> Any:
        """A copy that knows its file and resolved parameters (used by the loader)."""
        copy = self.model_copy()
        copy._path = path
        copy._resolved_params = dict(resolved_params)
        return copy

    def relative(self, value: str) -> Path:
        """`value` resolved against the folder of the workflow file."""
        path = Path(value)
        if path.is_absolute() or self._path is None:
            return path
        return (self._path.parent / path).resolve()


class WorkflowSpec(_WorkflowBase):
    """A main workflow: the steps of one execution."""

    type: Literal["main"] = "main"
    """`main` (the default), `daily` or `backfill`."""
    steps: list[Step] = Field(min_length=1)
    """`- job:` and `- template:` entries, run in order unless `depends_on` says otherwise."""

    @property
    def nodes(self) -> list[JobSpec]:
        """Every step's job or template, in file order."""
        return [step.node for step in self.steps]

    @property
    def jobs(self) -> list[PlacedJob]:
        """Every job flattened in file order (a template, then its write jobs), each with its step."""
        out: list[PlacedJob] = []
        for step in self.steps:
            out.append(PlacedJob(step, step.node))
            if isinstance(step, TemplateStep):
                out.extend(PlacedJob(step, write.job) for write in step.write_steps)
        return out

    def node(self, node_id: str) -> JobSpec:
        """The step with `node_id` (raises `KeyError`)."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Step id -> ids it waits for, in file order.

        A step with `depends_on` waits for exactly those; one without waits for the
        step before it (so a plain list runs top to bottom).
        """
        deps: dict[str, tuple[str, ...]] = {}
        previous: str | None = None
        for node in self.nodes:
            if node.depends_on is not None:
                deps[node.id] = tuple(node.depends_on)
            else:
                deps[node.id] = (previous,) if previous else ()
            previous = node.id
        return deps

    def dag(self) -> dict[str, tuple[str, ...]]:
        """`dependencies()` in an order that runs every step after its dependencies.

        File order is kept wherever `depends_on` allows it.

        Raises:
            SpecError: ids repeat, `depends_on` names an unknown step, or steps form a cycle.
        """
        from towpath.config import dotted
        from towpath.workflows.spec.graph import graph_problems

        problems = graph_problems(self)
        if problems:
            loc, msg = problems[0]
            raise SpecError(msg, file=self._path, field=dotted(loc))
        deps = self.dependencies()
        order: dict[str, tuple[str, ...]] = {}
        pending = list(deps)
        while pending:
            ready = next(i for i in pending if all(d in order for d in deps[i]))
            order[ready] = deps[ready]
            pending.remove(ready)
        return order

    def ordered_nodes(self) -> list[JobSpec]:
        """Steps in `dag()` order."""
        return [self.node(node_id) for node_id in self.dag()]


class TriggerSpec(SpecModel):
    """When to start besides the schedule."""

    hwm_of: str | None = None
    """Start when this table's high-water mark advances (`db.table`)."""


class _RunsMain(_WorkflowBase):
    """A daily or backfill file: it runs a main workflow file."""

    workflow: str
    """The main workflow file, relative to this file."""

    @property
    def workflow_path(self) -> Path:
        """The main workflow file (absolute once loaded from a file)."""
        return self.relative(self.workflow)


class DailySpec(_RunsMain):
    """Run a main workflow every day for today and `lookback_days` earlier days."""

    type: Literal["daily"]
    schedule: str | None = None
    """Cron expression (five fields) in `timezone`, e.g. `0 6 * * *`; optional when `trigger` is given."""
    lookback_days: int = Field(default=0, ge=0)
    """Also rerun this many previous days (late-arriving data)."""
    timezone: str | None = None
    """IANA time zone of the schedule and of `${EXECUTION_DATE}` (default: the project's)."""
    trigger: TriggerSpec | None = None
    """Optional: also start when an upstream table's high-water mark advances."""
    hwm: list[str] = Field(default_factory=list)
    """Tables whose high-water mark is set to today after every day succeeded."""
    notifications: NotificationsConfig | None = None
    """Where to report failures (default: the project's)."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is not None and not croniter.is_valid(value):
            raise invalid(f"invalid cron expression {value!r} (expected five fields like '0 6 * * *')")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            _check_zone(value)
        return value

    @model_validator(mode="after")
    def _fires_somehow(self) -> DailySpec:
        if self.schedule is None and (self.trigger is None or self.trigger.hwm_of is None):
            raise ValueError("a daily workflow needs a `schedule` (cron) or a `trigger: {hwm_of: db.table}`")
        return self


class BackfillSpec(_RunsMain):
    """Run a main workflow for every date in a range."""

    type: Literal["backfill"]
    start: dt.date | None = None
    """First date (default for `--start`)."""
    end: dt.date | None = None
    """Last date, inclusive (default for `--end`)."""
    parallel: int = Field(default=1, ge=1)
    """Dates run at the same time."""

    @model_validator(mode="after")
    def _range(self) -> BackfillSpec:
        if self.start and self.end and self.end < self.start:
            raise invalid(f"'end' ({self.end}) is before 'start' ({self.start})")
        return self


def _workflow_kind(data: Any) -> str:
    if isinstance(data, Mapping):
        kind = data.get("type") or "main"
        return kind.strip().lower() if isinstance(kind, str) else str(kind)
    return str(getattr(data, "type", "main"))


WorkflowFile = Annotated[
    Annotated[WorkflowSpec, Tag("main")] | Annotated[DailySpec, Tag("daily")] | Annotated[BackfillSpec, Tag("backfill")],
    Discriminator(
        _workflow_kind,
        custom_error_type="invalid_workflow_type",
        custom_error_message="expected type 'main', 'daily' or 'backfill'",
    ),
]
"""Any `*.sch.yaml` file, picked by `type` (default `main`)."""


def _check_zone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"unknown time zone {value!r} (expected an IANA name like 'UTC' or 'Europe/Berlin')") from None
