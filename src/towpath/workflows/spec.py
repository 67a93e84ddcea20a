"""Workflow files (`*.sch.yaml`) as pydantic models: main, daily and backfill.

The shapes follow Netflix Dataflow's workflow definitions: a *main* workflow is
one execution (typically one date) made of `- job:` and `- template:` steps; a
*daily* workflow runs main on a schedule for today and a few days back; a
*backfill* workflow runs main over a date range. The seed's spellings are
accepted too (`type: Spark`, `spark: {script: ...}`, `metacat: {...}`,
`data_auditor: {audits: [...]}`): they are normalised before validation.

These models hold data only; `towpath.workflows.loader` reads files, resolves
`${PARAMS}` and reports errors at file:line:column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import ConfigDict, Discriminator, Field, PrivateAttr, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from towpath.audits.spec import AuditSpec
from towpath.config.base import Spec
from towpath.config.project import NotificationsConfig
from towpath.errors import SpecError
from towpath.workflows.params import BUILTINS, PER_RUN_BUILTINS

__all__ = [
    "BUILTINS",
    "JOB_TYPES",
    "PER_RUN_BUILTINS",
    "WRITE_JOB_TYPES",
    "AuditJobSpec",
    "AuditSpec",
    "BackfillSpec",
    "DailySpec",
    "HwmJobSpec",
    "Job",
    "JobStep",
    "MetadataJobSpec",
    "Node",
    "PlacedJob",
    "PythonJobSpec",
    "SqlJobSpec",
    "Step",
    "TemplateStep",
    "TriggerSpec",
    "WaitJobSpec",
    "WapSpec",
    "WorkflowFile",
    "WorkflowSpec",
    "WriteJobStep",
    "graph_problems",
    "normalize_job",
]


ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
Id = Annotated[str, Field(pattern=ID_PATTERN, description="Letters, digits, `_`, `.` and `-`.")]

JOB_TYPES = ("audit", "hwm", "metadata", "pyspark", "python", "sql", "wait")
"""Every `type` of a `- job:` step."""
WRITE_JOB_TYPES = ("pyspark", "python", "sql")
"""Job types that may write inside a WAP template."""
TEMPLATE_TYPES = ("wap",)
"""Every `type` of a `- template:` step."""

JOB_TYPE_ALIASES = {"spark": "sql", "sparksql": "sql"}
"""Seed spellings mapped to towpath job types (after lower-casing)."""
NESTED_BLOCKS = ("spark", "metacat", "python", "pyspark")
"""Seed blocks whose keys belong to the job itself (`spark: {script: ...}`)."""

_S3_REF = re.compile(r"^\$S3\{(.*)\}$")

def _invalid(reason: str) -> PydanticCustomError:
    """A validation error whose message is exactly `reason` (a plain ValueError gets a "Value error," prefix)."""
    return PydanticCustomError("invalid_value", "{reason}", {"reason": reason})



def normalize_job(body: Any) -> Any:
    """A job or template mapping in towpath's canonical shape.

    Lower-cases `type`, maps aliases (`Spark` -> `sql`), lifts the seed's nested
    blocks (`spark:`, `metacat:`, `data_auditor:`) into the job and unwraps
    `$S3{./path}` script references. Anything that is not a mapping is returned
    as is for validation to reject.
    """
    if not isinstance(body, Mapping):
        return body
    out = dict(body)
    kind = out.get("type")
    if isinstance(kind, str):
        kind = kind.strip().lower()
        out["type"] = JOB_TYPE_ALIASES.get(kind, kind)
    for block in NESTED_BLOCKS:
        nested = out.get(block)
        if isinstance(nested, Mapping):
            del out[block]
            for key, value in nested.items():
                out.setdefault(key, value)
    auditor = out.get("data_auditor")
    if isinstance(auditor, Mapping) and set(auditor) <= {"audits"}:
        del out["data_auditor"]
        out.setdefault("audits", auditor.get("audits", []))
    script = out.get("script")
    if isinstance(script, str) and (match := _S3_REF.match(script.strip())):
        out["script"] = match.group(1)
    return out


class _Model(Spec):
    """Workflow models take their JSON-schema descriptions from field docstrings."""

    model_config = ConfigDict(use_attribute_docstrings=True)


def _as_text(value: Any) -> Any:
    """YAML scalars as the strings `${...}` substitution produces (`true`, `2`, `0.5`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, dt.date)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


class _Node(_Model):
    """What every job and template has."""

    PARAM_DEFAULTS: ClassVar[dict[str, str]] = {}
    """Defaults that reference parameters; the loader fills them in before substitution."""

    id: Id
    """Unique in the workflow; names the step in runs, logs and `depends_on`."""
    depends_on: list[str] | None = None
    """Steps that must succeed first. Without it a step depends on the step before it."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """Extra parameters for this step only (on top of the workflow's)."""

    @field_validator("parameters", mode="before")
    @classmethod
    def _text_parameters(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: _as_text(v) for k, v in value.items()}
        return value


WriteMode = Literal["append", "overwrite", "dynamic_overwrite"]


class SqlJobSpec(_Node):
    """Run a SQL script (DDL, `INSERT`, `MERGE`, or a bare `SELECT` written to `target`)."""

    type: Literal["sql"]
    script: str | None = None
    """Path of a `.sql` file, relative to the workflow file."""
    sql: str | None = None
    """Inline SQL, instead of `script`."""
    dialect: str | None = None
    """SQL dialect of the script (default: the project's `dialect`)."""
    target: str | None = None
    """Table (`db.table`) that receives the rows of a bare `SELECT`."""
    mode: WriteMode = "dynamic_overwrite"
    """How `target` is written: `append`, `overwrite`, or `dynamic_overwrite` (replace the partitions present)."""
    allow_evolution: bool = False
    """Let a write add new columns to `target` instead of failing on a schema mismatch."""

    @model_validator(mode="after")
    def _one_source(self) -> SqlJobSpec:
        if (self.script is None) == (self.sql is None):
            raise _invalid("give exactly one of 'script' (a file) and 'sql' (inline SQL)")
        return self


_CALLABLE = re.compile(r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*$")


class PythonJobSpec(_Node):
    """Call a Python function; a returned Arrow table (or DataFrame) is written to `target`."""

    type: Literal["python", "pyspark"]
    """`pyspark` jobs get `ctx.spark` and `ctx.table()` and need `engine: spark`; the rest is the same."""
    callable: str
    """`module:function` (module importable from the workflow folder) or `src/transform.py:function`."""
    target: str | None = None
    """Table (`db.table`) that receives the returned data."""
    mode: WriteMode = "dynamic_overwrite"
    """How `target` is written (see the sql job)."""

    @field_validator("callable")
    @classmethod
    def _callable_shape(cls, value: str) -> str:
        if not _CALLABLE.match(value.strip()):
            raise _invalid("expected 'module:function' or 'path/to/file.py:function'")
        return value.strip()

    @property
    def module_and_function(self) -> tuple[str, str]:
        """(`module` or file path, function name)."""
        module, _, function = self.callable.rpartition(":")
        return module, function


class MetadataJobSpec(_Node):
    """Set table metadata: owner, tags, lifetime, column types, description."""

    type: Literal["metadata"]
    table: str | None = None
    """Table as `db.table` or `catalog/db/table`."""
    tables: list[str] = Field(default_factory=list)
    """Several tables at once (instead of `table`)."""
    owner: str | None = None
    """Owning user or team."""
    tags: list[str] = Field(default_factory=list)
    """Free-form labels."""
    lifetime: int | None = Field(default=None, ge=0)
    """Days to keep data (recorded as a table property)."""
    column_types: dict[str, str] = Field(default_factory=dict)
    """Column roles, e.g. `{date: pk, country_code: pk}`."""
    description: str | None = None
    """What the table holds."""

    @model_validator(mode="after")
    def _some_table(self) -> MetadataJobSpec:
        if not self.table and not self.tables:
            raise _invalid("give 'table' or 'tables'")
        return self

    @property
    def all_tables(self) -> list[str]:
        """`table` and `tables` together."""
        return ([self.table] if self.table else []) + [t for t in self.tables if t != self.table]


class AuditJobSpec(_Node):
    """Run audits against `main` (outside a WAP template); each audit names its `table`."""

    type: Literal["audit"]
    audits: list[AuditSpec] = Field(min_length=1)
    """Audits to run (see docs/workflows.md for the built-in functions)."""


class HwmJobSpec(_Node):
    """Set a table's high-water mark (the time its data is complete up to)."""

    PARAM_DEFAULTS: ClassVar[dict[str, str]] = {
        "hwm_datetime": "${EXECUTION_DATE}",
        "hwm_timezone": "${EXECUTION_TIMEZONE}",
    }

    type: Literal["hwm"]
    table: str
    """Table as `db.table` or `catalog/db/table`."""
    hwm_datetime: str = "${EXECUTION_DATE}"
    """The mark, an ISO date or datetime (default: the execution date)."""
    hwm_timezone: str = "${EXECUTION_TIMEZONE}"
    """IANA time zone of `hwm_datetime` (default: the execution time zone)."""


class WaitJobSpec(_Node):
    """Wait until a table's high-water mark reaches `until` (an upstream dependency)."""

    PARAM_DEFAULTS: ClassVar[dict[str, str]] = {"until": "${EXECUTION_DATE}"}

    type: Literal["wait"]
    table: str
    """Upstream table as `db.table` or `catalog/db/table`."""
    until: str = "${EXECUTION_DATE}"
    """Date or datetime the mark must reach (default: the execution date)."""
    timeout: float = Field(default=3600, gt=0)
    """Seconds to wait before failing."""
    poll_interval: float = Field(default=30, gt=0)
    """Seconds between checks."""


def _job_tag(data: Any) -> str | None:
    """The union tag of a job body.

    Tags are `<type>-job`, not the bare type: pydantic puts the tag into error
    locations, and a bare `sql` would collide with the sql job's `sql` field when
    errors are mapped back to file:line.
    """
    kind = data.get("type") if isinstance(data, Mapping) else getattr(data, "type", None)
    return f"{kind}-job" if isinstance(kind, str) else None


_JOB_TYPE_ERROR = {
    "custom_error_type": "unknown_job_type",
    "custom_error_message": f"unknown job type; expected one of: {', '.join(JOB_TYPES)}",
}

Job = Annotated[
    Annotated[SqlJobSpec, Tag("sql-job")]
    | Annotated[PythonJobSpec, Tag("python-job")]
    | Annotated[PythonJobSpec, Tag("pyspark-job")]
    | Annotated[MetadataJobSpec, Tag("metadata-job")]
    | Annotated[AuditJobSpec, Tag("audit-job")]
    | Annotated[HwmJobSpec, Tag("hwm-job")]
    | Annotated[WaitJobSpec, Tag("wait-job")],
    Discriminator(_job_tag, **_JOB_TYPE_ERROR),
]
"""A `- job:` body, picked by its `type`."""

WriteJob = Annotated[
    Annotated[SqlJobSpec, Tag("sql-job")]
    | Annotated[PythonJobSpec, Tag("python-job")]
    | Annotated[PythonJobSpec, Tag("pyspark-job")],
    Discriminator(
        _job_tag,
        custom_error_type="unknown_write_job_type",
        custom_error_message=f"a WAP write job must have type: {' or '.join(WRITE_JOB_TYPES)}",
    ),
]
"""A job that may write inside a WAP template."""


class _StepBase(_Model):
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
    def node(self) -> Node:
        """The job or template inside the step."""
        node: Node = getattr(self, self.KEY)
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
    """A `- job:` inside a WAP template's `write_jobs` (sql or python)."""

    KEY: ClassVar[str] = "job"
    job: WriteJob


class WapSpec(_Node):
    """Write-Audit-Publish: write to a branch, audit it, publish to `main` only if the audits pass."""

    type: Literal["wap"] = "wap"
    tables: list[str] = Field(min_length=1)
    """Tables the write jobs write; each gets its own branch for this run."""
    write_jobs: list[WriteJobStep] = Field(min_length=1)
    """`- job:` steps (sql or python) that write the branch, in order."""
    audits: list[AuditSpec] = Field(default_factory=list)
    """Audits run against the branch before publishing (default table: the only entry of `tables`)."""
    max_attempts: int = Field(default=3, ge=1)
    """Whole write-audit-publish attempts when another writer moves `main` before the publish."""


class JobStep(_StepBase):
    """`- job: {...}`."""

    KEY: ClassVar[str] = "job"
    job: Job


class TemplateStep(_StepBase):
    """`- template: {...}` (today: `type: wap`)."""

    KEY: ClassVar[str] = "template"
    template: WapSpec


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

Node = SqlJobSpec | PythonJobSpec | MetadataJobSpec | AuditJobSpec | HwmJobSpec | WaitJobSpec | WapSpec
"""A job or template, the unit the runner runs."""


class PlacedJob(NamedTuple):
    """A job with the step it belongs to (a WAP template for its write jobs)."""

    step: JobStep | TemplateStep
    job: Node


class _WorkflowBase(_Model):
    """What every workflow file has, plus where it was loaded from."""

    id: Id
    """Unique name of the workflow; runs are recorded under it."""
    description: str | None = None
    """What the workflow produces."""
    params: dict[str, str] = Field(default_factory=dict)
    """Workflow parameters; values may reference each other and the project's and built-in parameters."""

    _path: Path | None = PrivateAttr(default=None)
    _resolved_params: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _text_params(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: _as_text(v) for k, v in value.items()}
        return value

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
    def nodes(self) -> list[Node]:
        """Every step's job or template, in file order."""
        return [step.node for step in self.steps]

    @property
    def jobs(self) -> list[PlacedJob]:
        """Every job flattened in file order (a template, then its write jobs), each with its step."""
        out: list[PlacedJob] = []
        for step in self.steps:
            out.append(PlacedJob(step, step.node))
            if isinstance(step, TemplateStep):
                out.extend(PlacedJob(step, write.job) for write in step.template.write_jobs)
        return out

    def node(self, node_id: str) -> Node:
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
        problems = graph_problems(self)
        if problems:
            loc, msg = problems[0]
            raise SpecError(msg, file=self._path, field=_dotted(loc))
        deps = self.dependencies()
        order: dict[str, tuple[str, ...]] = {}
        pending = list(deps)
        while pending:
            ready = next(i for i in pending if all(d in order for d in deps[i]))
            order[ready] = deps[ready]
            pending.remove(ready)
        return order

    def ordered_nodes(self) -> list[Node]:
        """Steps in `dag()` order."""
        return [self.node(node_id) for node_id in self.dag()]


class TriggerSpec(_Model):
    """When to start besides the schedule."""

    hwm_of: str | None = None
    """Start when this table's high-water mark advances (`db.table`)."""


class DailySpec(_WorkflowBase):
    """Run a main workflow every day for today and `lookback_days` earlier days."""

    type: Literal["daily"]
    workflow: str
    """The main workflow file, relative to this file."""
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
            raise _invalid(f"invalid cron expression {value!r} (expected five fields like '0 6 * * *')")
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

    @property
    def workflow_path(self) -> Path:
        """The main workflow file."""
        return self.relative(self.workflow)


class BackfillSpec(_WorkflowBase):
    """Run a main workflow for every date in a range."""

    type: Literal["backfill"]
    workflow: str
    """The main workflow file, relative to this file."""
    start: dt.date | None = None
    """First date (default for `--start`)."""
    end: dt.date | None = None
    """Last date, inclusive (default for `--end`)."""
    parallel: int = Field(default=1, ge=1)
    """Dates run at the same time."""

    @model_validator(mode="after")
    def _range(self) -> BackfillSpec:
        if self.start and self.end and self.end < self.start:
            raise _invalid(f"'end' ({self.end}) is before 'start' ({self.start})")
        return self

    @property
    def workflow_path(self) -> Path:
        """The main workflow file."""
        return self.relative(self.workflow)


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
        raise _invalid(f"unknown time zone {value!r} (expected an IANA name like 'UTC' or 'Europe/Berlin')") from None


def _iter_ids(spec: WorkflowSpec) -> Iterator[tuple[tuple[int | str, ...], str]]:
    """(data location of the `id`, id) of every step and write job, in file order."""
    for i, step in enumerate(spec.steps):
        kind = "template" if isinstance(step, TemplateStep) else "job"
        yield ("steps", i, kind, "id"), step.id
        if isinstance(step, TemplateStep):
            for k, write in enumerate(step.template.write_jobs):
                yield ("steps", i, "template", "write_jobs", k, "job", "id"), write.job.id


def graph_problems(spec: WorkflowSpec) -> list[tuple[tuple[int | str, ...], str]]:
    """Duplicate ids, unknown `depends_on` names and cycles, each with the data location to report.

    The loader turns these into `SpecError`s at file:line:column; `dag()` raises the first.
    """
    problems: list[tuple[tuple[int | str, ...], str]] = []
    seen: dict[str, tuple[int | str, ...]] = {}
    for loc, node_id in _iter_ids(spec):
        if node_id in seen:
            first = _dotted(seen[node_id][:-1])
            problems.append((loc, f"duplicate id '{node_id}' (already used by {first})"))
        else:
            seen[node_id] = loc
    step_ids = [step.id for step in spec.steps]
    write_ids = set(seen) - set(step_ids)
    for i, step in enumerate(spec.steps):
        kind = "template" if isinstance(step, TemplateStep) else "job"
        for k, dep in enumerate(step.depends_on or []):
            if dep in step_ids:
                if dep == step.id:
                    problems.append((("steps", i, kind, "depends_on", k), f"step '{dep}' depends on itself"))
                continue
            if dep in write_ids:
                msg = f"'{dep}' is a write job inside a template; depend on the template's id instead"
            else:
                msg = f"unknown step '{dep}' (steps: {', '.join(step_ids)})"
            problems.append((("steps", i, kind, "depends_on", k), msg))
    if problems:
        return problems
    cycle = _find_cycle(spec.dependencies())
    if cycle:
        index = step_ids.index(cycle[0])
        kind = "template" if isinstance(spec.steps[index], TemplateStep) else "job"
        problems.append(
            (("steps", index, kind, "depends_on"), f"depends_on forms a cycle: {' -> '.join(cycle)} (each step waits for the one before it)")
        )
    return problems


def _find_cycle(deps: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """One cycle as `[a, b, ..., a]`, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in deps.get(node, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state and (found := visit(node)):
            # the search walks "depends on" edges; reversed, each step waits for the one before it
            return list(reversed(found))
    return None


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
