"""An installed package adds a job type and an audit with zero edits to towpath.

The package is a real `*.dist-info` with `entry_points.txt` on `sys.path`
(PYTHONPATH of a `towpath` subprocess), so discovery goes through
`importlib.metadata` exactly as for a pip-installed plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from towpath.project import Project

PLUGIN = '''\
"""towpath_acme: a job type that stamps a number into a table, an audit on positive ids, a connector."""
from __future__ import annotations

from typing import Any, Literal

import click
import pyarrow as pa
from sqlglot import exp

from towpath.audits import Audit, AuditParams
from towpath.cli.main import CommandGroup
from towpath.connectors import ConnectorType, SourceSpec
from towpath.pipeline import TableSource
from towpath.workflows.jobs import JobType, Write
from towpath.workflows.results import JobResult
from towpath.workflows.spec import WriteJobSpec


class StampSpec(WriteJobSpec):
    """Write one row (`value`, `day`) into `target`."""

    type: Literal["stamp"]
    target: str
    """Table that receives the row."""
    value: int
    """The number to stamp."""
    day: str = "${DATE}"
    """Partition the row lands in (default: the run's date)."""


class StampJob(JobType[StampSpec]):
    name = "stamp"
    SPEC = StampSpec
    WRITES_IN_WAP = True

    @classmethod
    def run(cls, spec, ctx):
        rows = pa.table({"id": pa.array([spec.value], pa.int32()), "date": [spec.day]})
        written = ctx.engine.write(spec.target, rows, mode="dynamic_overwrite", refs=ctx.refs)
        return JobResult(job_id=spec.id, job_type="stamp", status="success", rows_written=written.rows)

    @classmethod
    def writes(cls, spec, workflow_dir, params):
        return [Write(spec.target, "target")]

    @classmethod
    def plan(cls, spec, workflow_dir, params):
        return f"stamp {spec.value} into {spec.target} for {spec.day}"


class CountSpec(SourceSpec):
    type: Literal["count"]
    upto: int
    """Emit ids 1..upto."""
    day: str
    """Partition of every row."""


class Count(ConnectorType[CountSpec, Any]):
    name = "count"
    SOURCE = CountSpec

    @classmethod
    def source(cls, spec, env):
        ids = pa.array(range(1, spec.upto + 1), pa.int32())
        return TableSource(pa.table({"id": ids, "date": [spec.day] * spec.upto}))


@click.group()
def cli():
    """Acme's own commands."""


@cli.command()
def hello():
    click.echo("hello from acme")


GROUP = CommandGroup("towpath_acme:cli", "Acme's own commands.")


class PositiveParams(AuditParams):
    column: str
    """Column whose values must be > 0."""


class IdsPositive(Audit[PositiveParams]):
    name = "ids_positive"

    def failing_rows(self):
        return self.scoped(exp.column(self.params.column) <= 0)

    def describe(self, failing, sample):
        return f"{failing} rows have {self.params.column} <= 0{self.scope_text()}"
'''

ENTRY_POINTS = """\
[towpath.job_types]
stamp = towpath_acme:StampJob

[towpath.audits]
ids_positive = towpath_acme:IdsPositive

[towpath.connectors]
count = towpath_acme:Count

[towpath.cli]
acme = towpath_acme:GROUP
"""

DDL = "CREATE TABLE IF NOT EXISTS acme.t (id INT, date STRING) USING iceberg PARTITIONED BY (date);\n"

WORKFLOW = """\
id: acme
params: {VALUE: "5"}
steps:
  - job: {id: ddl, type: sql, script: ddl.sql}
  - template:
      id: wap
      tables: [acme.t]
      write_jobs:
        - job: {id: stamp, type: stamp, target: acme.t, value: "${VALUE}"}
      audits:
        - function: ids_positive
          params: {column: id}
"""


@pytest.fixture
def acme(tmp_path: Path) -> tuple[Project, Path, dict[str, str]]:
    """A project with a workflow using the plugin, and the environment that puts the plugin on sys.path."""
    site = tmp_path / "site"
    dist = site / "towpath_acme-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: towpath-acme\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "towpath_acme.py").write_text(PLUGIN)
    project = Project.init(tmp_path / "proj", name="acme")
    (project.root / "ddl.sql").write_text(DDL)
    workflow = project.root / "acme.sch.yaml"
    workflow.write_text(WORKFLOW)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(src)])}
    return project, workflow, env


def towpath(env: dict[str, str], project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), *args],
        capture_output=True, text=True, env=env, check=False,
    )


def test_the_plugin_job_type_is_in_the_workflow_schema(acme):
    project, _, env = acme
    result = towpath(env, project, "workflow", "schema")
    assert result.returncode == 0, result.stderr
    defs = json.loads(result.stdout)["$defs"]
    assert defs["StampSpec"]["properties"]["type"]["const"] == "stamp"
    assert defs["StampSpec"]["properties"]["value"]["description"] == "The number to stamp."
    assert "wap" in defs["StampSpec"]["properties"]  # a write job gets the `wap: false` escape hatch


def test_project_validate_checks_the_plugin_job_and_audit(acme):
    project, workflow, env = acme
    ok = towpath(env, project, "project", "validate")
    assert ok.returncode == 0, ok.stdout + ok.stderr

    workflow.write_text(WORKFLOW.replace("value:", "vlaue:"))
    typo = towpath(env, project, "project", "validate")
    assert typo.returncode == 1
    assert "acme.sch.yaml:9:" in typo.stdout + typo.stderr and "did you mean 'value'" in typo.stdout + typo.stderr

    workflow.write_text(WORKFLOW.replace("params: {column: id}", "params: {colum: id}"))
    bad_audit = towpath(env, project, "project", "validate")
    out = bad_audit.stdout + bad_audit.stderr
    assert bad_audit.returncode == 1
    assert "acme.sch.yaml:12:" in out and "params.colum: unknown field 'colum'; did you mean 'column'" in out


def test_dry_run_shows_the_plugin_jobs_plan_with_its_parameter_default_resolved(acme):
    project, workflow, env = acme
    result = towpath(env, project, "workflow", "run", str(workflow), "--date", "2024-01-02", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    steps = {s["step_id"]: s for s in json.loads(result.stdout)["steps"]}
    assert steps["wap.stamp"]["step_type"] == "stamp"
    assert steps["wap.stamp"]["sql"] == "stamp 5 into acme.t for 2024-01-02"
    assert not project.catalog.exists("acme.t")


def test_a_real_run_writes_through_the_plugin_and_its_audit_blocks_a_bad_publish(acme):
    project, workflow, env = acme
    good = towpath(env, project, "workflow", "run", str(workflow), "--date", "2024-01-02")
    assert good.returncode == 0, good.stdout + good.stderr
    assert project.catalog.read("acme.t").to_pylist() == [{"id": 5, "date": "2024-01-02"}]
    published = project.catalog.snapshot_id("acme.t")

    bad = towpath(env, project, "workflow", "run", str(workflow), "--date", "2024-01-03", "-p", "VALUE=-1")
    assert bad.returncode != 0
    assert "ids_positive" in bad.stdout + bad.stderr and "1 rows have id <= 0" in bad.stdout + bad.stderr
    assert project.catalog.snapshot_id("acme.t") == published  # nothing was published


def test_a_plugin_connector_feeds_a_pipeline_job_inside_a_wap(acme):
    project, workflow, env = acme
    workflow.write_text(WORKFLOW.replace(
        '{id: stamp, type: stamp, target: acme.t, value: "${VALUE}"}',
        '{id: load, type: pipeline, source: {type: count, upto: 3, day: "${DATE}"}, '
        'sink: {type: iceberg, table: acme.t, mode: dynamic_overwrite}}',
    ))
    schema = json.loads(towpath(env, project, "workflow", "schema").stdout)
    assert schema["$defs"]["CountSpec"]["properties"]["upto"]["description"] == "Emit ids 1..upto."

    result = towpath(env, project, "workflow", "run", str(workflow), "--date", "2024-01-02")

    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(project.catalog.read("acme.t").column("id").to_pylist()) == [1, 2, 3]


def test_a_plugin_command_group_is_listed_and_runs(acme):
    project, _, env = acme
    listed = towpath(env, project, "--help")
    assert listed.returncode == 0 and "  acme " in listed.stdout and "Acme's own commands." in listed.stdout
    ran = towpath(env, project, "acme", "hello")
    assert (ran.returncode, ran.stdout.strip()) == (0, "hello from acme")


def test_without_the_plugin_the_job_type_is_unknown_at_its_line(acme):
    project, workflow, env = acme
    result = towpath({**env, "PYTHONPATH": env["PYTHONPATH"].split(os.pathsep, 1)[1]}, project,
                     "workflow", "run", str(workflow), "--date", "2024-01-02")
    assert result.returncode == 1
    assert textwrap.dedent("acme.sch.yaml:9:") in result.stderr and "unknown job type 'stamp'" in result.stderr
