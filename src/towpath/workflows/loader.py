"""Load a `*.sch.yaml` file: resolve parameters, substitute them, validate, check the graph.

Parameter layers, lowest first:

1. `params` — what the caller resolved outside the file: project parameters and
   the run's built-ins (`EXECUTION_DATE`, `DATE`, `EXECUTION_TIMEZONE`, `CATALOG`,
   `username`, `RUN_ID`, ...).
2. the workflow's own `params:` — values may reference each other (in any order)
   and layer 1. They may not redefine the per-run built-ins `EXECUTION_DATE`,
   `DATE` and `RUN_ID`.
3. `cli_params` — command-line `-p KEY=VALUE`; they beat the workflow's params
   (a workflow param overridden here is not even evaluated).
4. a step's `parameters:` — for that step only (a WAP template's parameters also
   reach its write jobs and audits); resolved against 1-3.

Then every string in `steps` (or, in daily/backfill files, every field but `id`,
`type` and `params`) is substituted and the document is validated. Every error
carries the file:line:column of the value that caused it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from towpath.audits import AuditSpec
from towpath.config import Document, dotted, load_yaml, parse_spec, references, substitute
from towpath.errors import ParameterError, SpecError, UnknownNameError
from towpath.workflows.jobs import JOB_TYPES, TEMPLATES, default_template
from towpath.workflows.params import BUILTINS, PER_RUN_BUILTINS
from towpath.workflows.spec import (
    BackfillSpec,
    DailySpec,
    TemplateStep,
    WorkflowSpec,
    graph_problems,
    normalize_job,
)
from towpath.workflows.spec.base import as_text
from towpath.workflows.spec.graph import Loc
from towpath.workflows.spec.writes import wap_problems

__all__ = ["BUILTINS", "WORKFLOW_TYPES", "AnyWorkflow", "job_params", "load_workflow", "resolve_params"]

AnyWorkflow = WorkflowSpec | DailySpec | BackfillSpec

WORKFLOW_TYPES: dict[str, type[WorkflowSpec | DailySpec | BackfillSpec]] = {
    "main": WorkflowSpec,
    "daily": DailySpec,
    "backfill": BackfillSpec,
}
"""Model of each workflow `type`."""

def load_workflow(
    path: Path | str,
    params: Mapping[str, str] | None = None,
    *,
    cli_params: Mapping[str, str] | None = None,
    strict: bool = True,
) -> AnyWorkflow:
    """Load a main, daily or backfill workflow file with its parameters resolved.

    Args:
        path: the `*.sch.yaml` file.
        params: project parameters and built-ins (lowest layer).
        cli_params: command-line parameters (beat the workflow's `params:`).
        strict: raise on an undefined `${NAME}`; with `strict=False` it stays as
            written (for dry runs and schema checks of partly parameterised files)
            and audit parameters that still hold `${...}` are not validated.

    Returns:
        The validated spec; `spec.path` is the file and `spec.resolved_params` the
        final parameter map (layers 1-3).

    Raises:
        SpecError: malformed YAML, an unknown field or job type, a wrong value, a
            duplicate step id, an unknown or cyclic `depends_on`, or an unknown
            audit or bad audit parameter; always with file:line:column.
        ParameterError: an undefined parameter, naming it, where it is used and
            what is defined.
    """
    path = Path(path)
    doc = _load_yaml(path)
    loader = _Loader(doc, strict=strict)
    return loader.load(dict(params or {}), dict(cli_params or {}))


def _load_yaml(path: Path) -> Document:
    """`load_yaml`, with a hint for the most common YAML slip in workflow files."""
    try:
        return load_yaml(path)
    except SpecError as exc:
        line = _line_of(path, exc.line)
        if exc.msg.startswith("invalid YAML") and "${" in line and ("{" in line.replace("${", "") or "[" in line):
            raise SpecError(
                f"{exc.msg} (a `${{...}}` inside `[...]` or `{{...}}` must be quoted: \"${{DB}}.t\")",
                file=exc.file, line=exc.line, col=exc.col, field=exc.field,
            ) from None
        raise


def _line_of(path: Path, line: int | None) -> str:
    if line is None:
        return ""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    return lines[line - 1] if 0 < line <= len(lines) else ""


def resolve_params(
    workflow_params: Mapping[str, Any],
    params: Mapping[str, str] | None = None,
    *,
    cli_params: Mapping[str, str] | None = None,
    strict: bool = True,
    doc: Document | None = None,
) -> dict[str, str]:
    """The final parameter map (layers 1-3 of the module docstring).

    >>> resolve_params({"T": "${DB}.t", "DB": "foo"}, {"CATALOG": "c"}, cli_params={"DB": "bar"})
    {'CATALOG': 'c', 'T': 'bar.t', 'DB': 'bar'}
    """
    resolver = _ParamResolver(dict(workflow_params), dict(params or {}), dict(cli_params or {}), strict, doc)
    return resolver.resolve_all()


def job_params(spec: WorkflowSpec, job: Any) -> dict[str, str]:
    """Parameters a job runs with: the workflow's, its template's (for write jobs) and its own.

    Accepts a job/template spec or its id.
    """
    node_id = job if isinstance(job, str) else job.id
    out = dict(spec.resolved_params)
    for placed in spec.jobs:
        if placed.job.id != node_id:
            continue
        if placed.step.node.id != node_id:  # a write job: its template's parameters apply too
            out.update(placed.step.node.parameters)
        out.update(placed.job.parameters)
        return out
    raise KeyError(f"no job '{node_id}' in workflow '{spec.id}'")


class _Tolerant(Mapping[str, str]):
    """Parameters where an undefined name stays `${NAME}` (non-strict loading)."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return self._params.get(key, f"${{{key}}}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


class _ParamResolver(Mapping[str, str]):
    """Workflow params resolved lazily, so they may reference each other in any order."""

    def __init__(
        self,
        raw: dict[str, Any],
        outer: dict[str, str],
        cli: dict[str, str],
        strict: bool,
        doc: Document | None,
    ) -> None:
        self.raw, self.outer, self.cli, self.strict, self.doc = raw, outer, cli, strict, doc
        self.done: dict[str, str] = {}
        self.active: list[str] = []

    def __contains__(self, key: object) -> bool:
        return key in self.cli or key in self.raw or key in self.outer or not self.strict

    def __getitem__(self, key: str) -> str:
        if key in self.cli:
            return str(self.cli[key])
        if key in self.raw:
            return self._resolve(key)
        if key in self.outer:
            return str(self.outer[key])
        return f"${{{key}}}"  # only reached when not strict

    def __iter__(self) -> Iterator[str]:
        return iter({**self.outer, **self.raw, **self.cli})

    def __len__(self) -> int:
        return len({**self.outer, **self.raw, **self.cli})

    def _resolve(self, name: str) -> str:
        if name in self.done:
            return self.done[name]
        loc: Loc = ("params", name)
        if name in self.active:
            cycle = [*self.active[self.active.index(name):], name]
            raise _error(SpecError, f"parameters reference each other in a cycle: {' -> '.join(cycle)}", self.doc, loc)
        value = self.raw[name]
        if isinstance(value, (dict, list)) or value is None:
            raise _error(SpecError, f"expected a text or number value, got {type(value).__name__}", self.doc, loc)
        self.active.append(name)
        try:
            text = _sub_text(str(value), self, self.doc, loc)
        finally:
            self.active.pop()
        self.done[name] = text
        return text

    def resolve_all(self) -> dict[str, str]:
        resolved = {name: self[name] for name in self.raw if name not in self.cli}
        return {**{k: str(v) for k, v in self.outer.items()}, **resolved, **{k: str(v) for k, v in self.cli.items()}}


class _Loader:
    """One load of one document (keeps the doc and strictness for error locations)."""

    def __init__(self, doc: Document, *, strict: bool) -> None:
        self.doc, self.strict = doc, strict

    def error(self, msg: str, loc: Loc, kind: type[SpecError] = SpecError) -> SpecError:
        return _error(kind, msg, self.doc, loc)

    def load(self, outer: dict[str, str], cli: dict[str, str]) -> AnyWorkflow:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.error("expected a mapping with `id` and `steps` (or `type: daily|backfill`)", ())
        kind = data.get("type", "main")
        kind = kind.strip().lower() if isinstance(kind, str) else kind
        if kind not in WORKFLOW_TYPES:
            raise self.error(f"unknown workflow type {kind!r}; expected one of: main, daily, backfill", ("type",))
        raw_params = data.get("params") or {}
        if not isinstance(raw_params, dict):
            raise self.error(f"expected a mapping of NAME: value, got {type(raw_params).__name__}", ("params",))
        for name in raw_params:
            if name in PER_RUN_BUILTINS:
                raise self.error(
                    f"'{name}' is a built-in parameter set for every run; pass it on the command line "
                    f"(`--date` / `-p {name}=...`) or use another name",
                    ("params", name),
                )
        final = resolve_params(raw_params, outer, cli_params=cli, strict=self.strict, doc=self.doc)
        payload: dict[str, Any] = {"type": kind}
        for key, value in data.items():
            if key in ("type", "id", "params"):
                payload.setdefault(key, value)
            elif key == "steps" and kind == "main":
                payload[key] = self.steps(value, final)
            else:
                payload[key] = self.sub(value, final, (key,))
        model = WORKFLOW_TYPES[kind]
        spec: AnyWorkflow = parse_spec(model, self.doc, payload)
        path = self.doc.path.resolve()
        if isinstance(spec, WorkflowSpec):
            self.check_graph(spec)
            self.check_writes(spec, final)
            self.check_audits(spec)
        else:
            self.check_main_file(spec, path)
        located: AnyWorkflow = spec.located(path, final)
        return located

    # substitution ------------------------------------------------------------------------------

    def sub(self, value: Any, params: Mapping[str, str], loc: Loc) -> Any:
        """Substitute inside every string of a nested value, reporting errors at `loc`."""
        if isinstance(value, str):
            return _sub_text(value, params if self.strict else _Tolerant(params), self.doc, loc)
        if isinstance(value, dict):
            return {k: self.sub(v, params, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.sub(v, params, (*loc, i)) for i, v in enumerate(value)]
        return value

    def steps(self, steps: Any, params: Mapping[str, str]) -> Any:
        if not isinstance(steps, list):
            return steps  # validation reports the type
        return [self.step(step, params, ("steps", i)) for i, step in enumerate(steps)]

    def step(self, step: Any, params: Mapping[str, str], loc: Loc, *, write_job: bool = False) -> Any:
        """One `- job:`/`- template:` entry (`write_job`: inside a template's `write_jobs`)."""
        kinds = ("job",) if write_job else ("job", "template")
        if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in kinds:
            shown = ", ".join(map(str, step)) if isinstance(step, dict) else type(step).__name__
            expected = " or ".join(f"`- {k}: {{...}}`" for k in kinds)
            raise self.error(f"expected a step written as {expected}, got {shown or 'an empty mapping'}", loc)
        kind = next(iter(step))
        body = step[kind]
        if not isinstance(body, dict):
            raise self.error(f"expected a mapping with `id` and `type`, got {type(body).__name__}", (*loc, kind))
        body = normalize_job(body)
        type_loc = (*loc, kind, "type")
        if kind == "job":
            self.check_type(body, type_loc, write_job=write_job)
            for field, default in JOB_TYPES.get(body["type"]).param_defaults().items():
                body.setdefault(field, default)
        else:
            template = default_template()
            if template is not None:
                body.setdefault("type", template)
            self.check_type(body, type_loc, template=True)
        return {kind: self.body(body, params, (*loc, kind))}

    def check_type(self, body: dict[str, Any], loc: Loc, *, write_job: bool = False, template: bool = False) -> None:
        """`type` names a registered job type (one that writes inside WAP, for a write job) or template."""
        kind = body.get("type")
        registry = TEMPLATES if template else JOB_TYPES
        allowed = [n for n, jt in registry.items() if not write_job or jt.WRITES_IN_WAP]
        expected = ", ".join(allowed)
        if kind is None:
            raise self.error(f"missing required field 'type'; expected one of: {expected}", loc[:-1])
        if kind in allowed:
            return
        if write_job and kind in JOB_TYPES:
            raise self.error(f"a '{kind}' job cannot write inside a WAP template; expected one of: {expected}", loc)
        what = "template" if template else "job"
        raise self.error(f"unknown {what} type {body.get('type')!r}; expected one of: {expected}", loc)

    def body(self, body: dict[str, Any], params: Mapping[str, str], loc: Loc) -> dict[str, Any]:
        """A job/template mapping: its `parameters` first, then every other field with them."""
        layer = dict(params)
        out: dict[str, Any] = {}
        own = body.get("parameters")
        if isinstance(own, dict):
            resolved = self.sub({k: as_text(v) for k, v in own.items()}, params, (*loc, "parameters"))
            out["parameters"] = resolved
            layer.update(resolved)
        for key, value in body.items():
            if key == "parameters" and isinstance(own, dict):
                continue
            if key == "write_jobs" and isinstance(value, list):
                out[key] = [self.step(s, layer, (*loc, key, i), write_job=True) for i, s in enumerate(value)]
            else:
                out[key] = self.sub(value, layer, (*loc, key))
        return out

    # checks after validation -------------------------------------------------------------------

    def check_graph(self, spec: WorkflowSpec) -> None:
        problems = graph_problems(spec)
        if problems:
            loc, msg = problems[0]
            raise self.error(msg, loc)

    def check_writes(self, spec: WorkflowSpec, params: Mapping[str, str]) -> None:
        """No write may bypass a WAP template (see `towpath.workflows.spec.writes`)."""
        problems = wap_problems(spec, self.doc.path.resolve().parent, params)
        if problems:
            loc, msg = problems[0]
            raise self.error(msg, loc)

    def check_audits(self, spec: WorkflowSpec) -> None:
        """Unknown audit functions and bad audit params fail at load time, at their line."""
        for i, step in enumerate(spec.steps):
            node = step.node
            audits: list[AuditSpec] = getattr(node, "audits", None) or []
            kind = "template" if isinstance(step, TemplateStep) else "job"
            tables: list[str] = getattr(node, "tables", None) or []
            default_table = tables[0] if isinstance(step, TemplateStep) and len(tables) == 1 else None
            for k, audit in enumerate(audits):
                self.check_audit(audit, ("steps", i, kind, "audits", k), default_table)

    def check_audit(self, audit: AuditSpec, loc: Loc, default_table: str | None) -> None:
        from towpath.audits import get_audit

        loc = self.audit_loc(loc)
        try:
            audit_cls = get_audit(audit.function)
        except UnknownNameError as exc:
            raise self.error(str(exc), (*loc, "function")) from None
        if not self.strict and references(repr(audit.params)):
            return
        params = parse_spec(audit_cls.Params, self.doc, dict(audit.params), base_loc=(*loc, "params"))
        if params.table is None and default_table is None and audit_cls.needs_table():
            where = "a WAP template with several tables" if "template" in loc else "an audit job"
            raise self.error(f"missing required parameter 'table' (audits in {where} must name their table)",
                             (*loc, "params"))

    def audit_loc(self, loc: Loc) -> Loc:
        """Audits may sit under the seed's `data_auditor:`; point errors there when they do."""
        parent = loc[:-2]
        node: Any = self.doc.data
        for key in parent:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return loc
        if isinstance(node, dict) and "audits" not in node and isinstance(node.get("data_auditor"), dict):
            return (*parent, "data_auditor", "audits", loc[-1])
        return loc

    def check_main_file(self, spec: DailySpec | BackfillSpec, path: Path) -> None:
        main = Path(spec.workflow)
        main = main if main.is_absolute() else path.parent / main
        if "${" not in spec.workflow and not main.is_file():
            raise self.error(f"main workflow file not found: {main}", ("workflow",))


def _sub_text(text: str, params: Mapping[str, str], doc: Document | None, loc: Loc) -> str:
    try:
        return substitute(text, params)
    except ParameterError as exc:
        if exc.file is not None or exc.field is not None:
            raise  # already placed (a parameter that references an undefined one)
        raise _error(ParameterError, exc.msg, doc, loc) from None


def _error(kind: type[SpecError], msg: str, doc: Document | None, loc: Loc) -> SpecError:
    if doc is None:
        return kind(msg, field=dotted(loc) or None)
    line, col = doc.locate_value(loc)
    return kind(msg, file=doc.path, line=line, col=col, field=dotted(loc) or None)
