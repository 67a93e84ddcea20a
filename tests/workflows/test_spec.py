"""Workflow models on their own: job types, the step graph, and the JSON schema."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import TypeAdapter, ValidationError

from towpath.errors import SpecError
from towpath.workflows.jobs import JOB_TYPES, TEMPLATES
from towpath.workflows.jobs.python import PythonJobSpec
from towpath.workflows.jobs.sql import SqlJobSpec
from towpath.workflows.schema import workflow_json_schema
from towpath.workflows.spec import (
    BackfillSpec,
    DailySpec,
    TemplateStep,
    WorkflowFile,
    WorkflowSpec,
)

EXAMPLE = {
    "id": "dataflow_sample",
    "description": "Top 100 titles per country per day.",
    "params": {"TARGET_DB": "foo", "TARGET_TABLE": "dataflow_sample_results"},
    "steps": [
        {"job": {"id": "ddl", "type": "sql", "script": "ddl/dataflow_sample.sql", "parameters": {"TARGET_DB": "${TARGET_DB}"}}},
        {"job": {"id": "metadata", "type": "metadata", "table": "${CATALOG}/${TARGET_DB}/${TARGET_TABLE}",
                 "owner": "${username}", "tags": ["dataflow", "sample"], "lifetime": 123,
                 "column_types": {"date": "pk", "country_code": "pk", "title_rank": "pk"}, "description": "text"}},
        {"template": {"id": "wap", "type": "wap", "tables": ["${TARGET_DB}.${TARGET_TABLE}"],
                      "write_jobs": [{"job": {"id": "write", "type": "sql", "script": "src/sparksql_write.sql",
                                              "target": "${TARGET_DB}.${TARGET_TABLE}", "mode": "dynamic_overwrite"}}],
                      "audits": [{"function": "columns_should_not_have_nulls", "blocking": True,
                                  "params": {"table": "${TARGET_DB}.${TARGET_TABLE}", "columns": ["title_id"]}}]}},
        {"job": {"id": "hwm", "type": "hwm", "table": "${CATALOG}/${TARGET_DB}/${TARGET_TABLE}",
                 "hwm_datetime": "${EXECUTION_DATE}", "hwm_timezone": "${EXECUTION_TIMEZONE}"}},
    ],
}


def jobs(*specs: dict[str, object]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"id": "w", "steps": [{"job": s} for s in specs]})


def sql(job_id: str, **extra: object) -> dict[str, object]:
    return {"id": job_id, "type": "sql", "sql": "SELECT 1", **extra}


def test_steps_without_depends_on_run_in_file_order():
    spec = jobs(sql("a"), sql("b"), sql("c"))
    assert spec.dependencies() == {"a": (), "b": ("a",), "c": ("b",)}
    assert list(spec.dag()) == ["a", "b", "c"]


def test_depends_on_replaces_the_implicit_previous_step_and_reorders():
    spec = jobs(sql("report", depends_on=["load"]), sql("load", depends_on=[]), sql("other"))
    assert spec.dependencies() == {"report": ("load",), "load": (), "other": ("load",)}
    assert list(spec.dag()) == ["load", "report", "other"]
    assert [n.id for n in spec.ordered_nodes()] == ["load", "report", "other"]


def test_fan_in_waits_for_every_dependency():
    spec = jobs(sql("a", depends_on=[]), sql("b", depends_on=[]), sql("c", depends_on=["a", "b"]))
    assert spec.dag() == {"a": (), "b": (), "c": ("a", "b")}


def test_dag_rejects_cycles_and_unknown_steps_without_a_file():
    with pytest.raises(SpecError, match=r"cycle: a -> b -> a"):
        jobs(sql("a", depends_on=["b"]), sql("b", depends_on=["a"])).dag()
    with pytest.raises(SpecError, match=r"steps\[0\]\.job\.depends_on\[0\]: unknown step 'zz'"):
        jobs(sql("a", depends_on=["zz"])).dag()
    with pytest.raises(SpecError, match="depends on itself"):
        jobs(sql("a", depends_on=["a"])).dag()


def test_jobs_flattens_templates_with_their_step():
    spec = WorkflowSpec.model_validate(EXAMPLE)
    placed = spec.jobs
    assert [(p.job.id, p.job.type) for p in placed] == [
        ("ddl", "sql"), ("metadata", "metadata"), ("wap", "wap"), ("write", "sql"), ("hwm", "hwm"),
    ]
    write = placed[3]
    assert isinstance(write.step, TemplateStep) and write.step.id == "wap"
    assert [step.node.id for step in spec.steps] == ["ddl", "metadata", "wap", "hwm"]


def test_job_type_is_case_insensitive_and_spark_means_sql():
    spec = jobs({"id": "a", "type": "Spark", "script": "a.sql"}, {"id": "m", "type": "Metadata", "tables": ["a.b"]})
    assert isinstance(spec.node("a"), SqlJobSpec) and spec.node("m").type == "metadata"


def test_sql_job_defaults():
    job = jobs(sql("a")).node("a")
    assert isinstance(job, SqlJobSpec)
    assert (job.mode, job.allow_evolution, job.dialect, job.target) == ("dynamic_overwrite", False, None, None)


def test_python_job_callable_shapes():
    ok = jobs({"id": "p", "type": "python", "callable": "src/transform.py:top_titles", "target": "a.b"}).node("p")
    assert isinstance(ok, PythonJobSpec) and ok.module_and_function == ("src/transform.py", "top_titles")
    assert jobs({"id": "p", "type": "python", "callable": "pkg.mod:fn"}).node("p").module_and_function == ("pkg.mod", "fn")
    with pytest.raises(ValidationError, match="expected 'module:function'"):
        jobs({"id": "p", "type": "python", "callable": "just_a_module"})


def test_metadata_job_needs_a_table():
    with pytest.raises(ValidationError, match="give 'table' or 'tables'"):
        jobs({"id": "m", "type": "metadata", "owner": "x"})
    both = jobs({"id": "m", "type": "metadata", "table": "a.b", "tables": ["a.b", "c.d"]}).node("m")
    assert both.all_tables == ["a.b", "c.d"]


def test_wap_defaults_and_write_job_types():
    wap = WorkflowSpec.model_validate(EXAMPLE).node("wap")
    assert (wap.max_attempts, wap.type) == (3, "wap")
    bad = {"id": "w", "steps": [{"template": {"id": "t", "tables": ["a.b"], "write_jobs": [{"job": {"id": "x", "type": "hwm", "table": "a.b"}}]}}]}
    with pytest.raises(ValidationError, match="a WAP write job must have type: pipeline or pyspark or python or sql"):
        WorkflowSpec.model_validate(bad)


def test_workflow_params_accept_yaml_scalars_as_text():
    spec = WorkflowSpec.model_validate({"id": "w", "params": {"N": 2, "ON": True, "X": 0.5}, "steps": [{"job": sql("a")}]})
    assert spec.params == {"N": "2", "ON": "true", "X": "0.5"}
    assert spec.resolved_params == spec.params and spec.path is None


def test_root_union_picks_the_model_by_type_default_main():
    adapter = TypeAdapter(WorkflowFile)
    assert isinstance(adapter.validate_python(EXAMPLE), WorkflowSpec)
    daily = adapter.validate_python({"id": "d", "type": "daily", "workflow": "main.sch.yaml", "schedule": "0 6 * * *"})
    assert isinstance(daily, DailySpec) and daily.lookback_days == 0 and daily.hwm == []
    backfill = adapter.validate_python({"id": "b", "type": "backfill", "workflow": "main.sch.yaml"})
    assert isinstance(backfill, BackfillSpec) and backfill.parallel == 1 and backfill.start is None


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = workflow_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_draft_2020_12_and_every_job_field_is_described(validator):
    schema = workflow_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name, job_type in [*JOB_TYPES.items(), *TEMPLATES.items()]:
        properties = schema["$defs"][job_type.SPEC.__name__]["properties"]
        undocumented = [f for f, prop in properties.items() if not prop.get("description") and f != "type"]
        assert undocumented == [], f"{name}: fields without a docstring: {undocumented}"
    assert schema["$defs"]["SqlJobSpec"]["properties"]["mode"]["enum"] == ["append", "overwrite", "dynamic_overwrite"]
    assert "cron" in schema["$defs"]["DailySpec"]["properties"]["schedule"]["description"].lower()


def test_schema_accepts_the_example_daily_and_backfill(validator):
    assert list(validator.iter_errors(EXAMPLE)) == []
    daily = {"id": "d", "type": "daily", "workflow": "main.sch.yaml", "schedule": "0 6 * * *", "lookback_days": 2,
             "timezone": "UTC", "trigger": {"hwm_of": "some_db.source_table"}, "hwm": ["foo.t"],
             "notifications": {"webhook": "https://example.invalid/hook"}}
    assert list(validator.iter_errors(daily)) == []
    assert list(validator.iter_errors({"id": "b", "type": "backfill", "workflow": "m.sch.yaml", "start": "2022-01-01", "parallel": 2})) == []


def test_schema_rejects_unknown_job_type_missing_fields_and_unknown_keys(validator):
    bad_type = {"id": "w", "steps": [{"job": {"id": "a", "type": "sparkk", "script": "a.sql"}}]}
    assert not validator.is_valid(bad_type)
    assert not validator.is_valid({"id": "w", "steps": [{"job": {"id": "h", "type": "hwm"}}]})  # no table
    assert not validator.is_valid({"id": "w", "steps": [{"job": sql("a", targt="x")}]})
    assert not validator.is_valid({"id": "d", "type": "daily", "schedule": "0 6 * * *"})  # no main workflow
    assert not validator.is_valid({"id": "w", "steps": []})
