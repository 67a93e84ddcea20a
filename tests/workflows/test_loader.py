"""Loading `*.sch.yaml`: parameter layers, substitution, and errors at file:line:column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from towpath.errors import ParameterError, SpecError
from towpath.workflows.loader import job_params, load_workflow, resolve_params
from towpath.workflows.params import builtin_params
from towpath.workflows.spec import BackfillSpec, DailySpec, WorkflowSpec

RUN = builtin_params(execution_date="2024-01-02", timezone="UTC", catalog="prodhive", run_id="r1")
"""What the runner hands the loader for one run (the same function assembles it)."""

MAIN = """\
id: dataflow_sample
description: Top 100 titles per country per day.
params:
  TARGET_TABLE: dataflow_sample_results
  TARGET_DB: foo
steps:
  - job:
      id: ddl
      type: sql
      script: ddl/dataflow_sample.sql
      parameters: {TARGET_DB: "${TARGET_DB}"}   # quoted: `${` inside {...} or [...] is not plain YAML
  - job:
      id: metadata
      type: metadata
      table: ${CATALOG}/${TARGET_DB}/${TARGET_TABLE}
      owner: ${username}
      tags: [dataflow, sample]
      lifetime: 123
      column_types: {date: pk, country_code: pk, title_rank: pk}
  - template:
      id: wap
      type: wap
      tables: ["${TARGET_DB}.${TARGET_TABLE}"]
      write_jobs:
        - job: {id: write, type: sql, script: src/sparksql_write.sql, target: "${TARGET_DB}.${TARGET_TABLE}", mode: dynamic_overwrite}
      audits:
        - function: columns_should_not_have_nulls
          blocking: true
          params: {table: "${TARGET_DB}.${TARGET_TABLE}", columns: [title_id], where: "date = DATE '${DATE}'"}
  - job:
      id: hwm
      type: hwm
      table: ${CATALOG}/${TARGET_DB}/${TARGET_TABLE}
      hwm_datetime: ${EXECUTION_DATE}
      hwm_timezone: ${EXECUTION_TIMEZONE}
"""


def write(folder: Path, text: str, name: str = "main.sch.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def error_at(exc: pytest.ExceptionInfo[SpecError]) -> tuple[int | None, int | None, str | None]:
    return exc.value.line, exc.value.col, exc.value.field


def test_the_example_loads_with_every_parameter_resolved(tmp_path):
    spec = load_workflow(write(tmp_path, MAIN), RUN)
    assert isinstance(spec, WorkflowSpec) and spec.id == "dataflow_sample" and spec.type == "main"
    assert spec.path == (tmp_path / "main.sch.yaml").resolve()
    meta = spec.node("metadata")
    assert meta.table == "prodhive/foo/dataflow_sample_results" and meta.owner == RUN["username"] and meta.lifetime == 123
    wap = spec.node("wap")
    assert wap.tables == ["foo.dataflow_sample_results"]
    assert wap.write_jobs[0].job.target == "foo.dataflow_sample_results"
    assert wap.audits[0].params == {
        "table": "foo.dataflow_sample_results", "columns": ["title_id"], "where": "date = DATE '2024-01-02'",
    }
    hwm = spec.node("hwm")
    assert (hwm.hwm_datetime, hwm.hwm_timezone) == ("2024-01-02", "UTC")
    assert spec.resolved_params["TARGET_DB"] == "foo" and spec.resolved_params["DATE"] == "2024-01-02"


def test_command_line_params_beat_workflow_params_which_beat_project_params(tmp_path):
    path = write(tmp_path, MAIN)
    spec = load_workflow(path, {**RUN, "TARGET_DB": "project_db", "EXTRA": "x"}, cli_params={"TARGET_TABLE": "cli_t"})
    assert spec.resolved_params["TARGET_DB"] == "foo"  # workflow beats project
    assert spec.resolved_params["TARGET_TABLE"] == "cli_t"  # cli beats workflow
    assert spec.resolved_params["EXTRA"] == "x"
    assert spec.node("wap").tables == ["foo.cli_t"]


def test_workflow_params_reference_each_other_in_any_order_and_outer_layers(tmp_path):
    params = {"FULL": "${DB}.${TABLE}", "TABLE": "t_${DATE_NODASH}", "DB": "${PROJECT_DB}"}
    resolved = resolve_params(params, {"PROJECT_DB": "p", "DATE_NODASH": "20240102"})
    assert resolved["FULL"] == "p.t_20240102"
    # a cli override of DB is what FULL sees
    assert resolve_params(params, {"PROJECT_DB": "p", "DATE_NODASH": "1"}, cli_params={"DB": "c"})["FULL"] == "c.t_1"


def test_a_param_overridden_on_the_command_line_is_not_evaluated(tmp_path):
    resolved = resolve_params({"DB": "${UNDEFINED}"}, {}, cli_params={"DB": "cli"})
    assert resolved == {"DB": "cli"}


def test_undefined_parameter_names_it_where_it_is_used_and_what_is_defined(tmp_path):
    path = write(tmp_path, MAIN)
    with pytest.raises(ParameterError) as exc:
        load_workflow(path, {k: v for k, v in RUN.items() if k != "CATALOG"})
    assert error_at(exc) == (15, 14, "steps[1].job.table")
    message = str(exc.value)
    assert message.startswith(f"{path}:15:14: steps[1].job.table: undefined parameter '${{CATALOG}}'")
    assert "defined: " in message and "TARGET_DB" in message and "username" in message


def test_undefined_parameter_inside_a_workflow_param_points_at_that_param(tmp_path):
    path = write(tmp_path, """\
        id: w
        params:
          A: ${B}-x
          B: ${NOPE}
        steps:
          - job: {id: a, type: sql, sql: "SELECT '${A}'"}
        """)
    with pytest.raises(ParameterError, match=r"main.sch.yaml:4:6: params.B: undefined parameter '\$\{NOPE\}'"):
        load_workflow(path, RUN)


def test_parameter_cycles_are_named(tmp_path):
    path = write(tmp_path, """\
        id: w
        params: {A: "${B}", B: "${A}"}
        steps:
          - job: {id: a, type: sql, sql: SELECT 1}
        """)
    with pytest.raises(SpecError, match="parameters reference each other in a cycle: A -> B -> A"):
        load_workflow(path, RUN)


def test_per_run_builtins_cannot_be_redefined_by_the_workflow(tmp_path):
    path = write(tmp_path, """\
        id: w
        params: {DATE: "2020-01-01"}
        steps:
          - job: {id: a, type: sql, sql: SELECT 1}
        """)
    with pytest.raises(SpecError, match="'DATE' is a built-in parameter"):
        load_workflow(path, RUN)


def test_non_strict_leaves_undefined_parameters_as_written(tmp_path):
    spec = load_workflow(write(tmp_path, MAIN), {}, strict=False)
    assert spec.node("metadata").table == "${CATALOG}/foo/dataflow_sample_results"
    assert spec.node("hwm").hwm_timezone == "${EXECUTION_TIMEZONE}"
    assert spec.node("wap").audits[0].params["where"] == "date = DATE '${DATE}'"


def test_escaped_dollar_brace_stays_literal(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - job: {id: a, type: sql, sql: "SELECT '$${NOT_A_PARAM}' AS x"}
        """)
    assert load_workflow(path, RUN).node("a").sql == "SELECT '${NOT_A_PARAM}' AS x"


def test_job_parameters_apply_to_that_job_only(tmp_path):
    path = write(tmp_path, """\
        id: w
        params: {DB: foo}
        steps:
          - job: {id: a, type: sql, sql: SELECT 1, target: "${DB}.${T}", parameters: {T: a_table, DB: other}}
          - template:
              id: wap
              type: wap
              tables: ["${DB}.t"]
              parameters: {SUFFIX: _v2}
              write_jobs:
                - job: {id: b, type: sql, script: b.sql, parameters: {N: "${SUFFIX}!"}}
        """)
    spec = load_workflow(path, RUN)
    assert spec.node("a").target == "other.a_table"
    assert spec.node("a").parameters == {"T": "a_table", "DB": "other"}
    assert spec.node("wap").tables == ["foo.t"]
    assert job_params(spec, "a")["DB"] == "other" and job_params(spec, "wap")["DB"] == "foo"
    write_params = job_params(spec, spec.node("wap").write_jobs[0].job)
    assert (write_params["SUFFIX"], write_params["N"], write_params["DB"]) == ("_v2", "_v2!", "foo")


def test_hwm_and_wait_defaults_come_from_the_run(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - job: {id: wait, type: wait, table: some_db.source_table, poll_interval: 0.5}
          - job: {id: hwm, type: hwm, table: foo.t}
        """)
    spec = load_workflow(path, {**RUN, "EXECUTION_TIMEZONE": "Europe/Berlin"})
    wait, hwm = spec.node("wait"), spec.node("hwm")
    assert (wait.until, wait.timeout, wait.poll_interval) == ("2024-01-02", 3600, 0.5)
    assert (hwm.hwm_datetime, hwm.hwm_timezone) == ("2024-01-02", "Europe/Berlin")


def test_seed_spellings_are_accepted(tmp_path):
    path = write(tmp_path, """\
        id: seed
        params: {TARGET_DB: foo, TARGET_TABLE: t}
        steps:
          - job:
              id: ddl
              type: Spark
              spark:
                script: $S3{./ddl/dataflow_sparksql_sample.sql}
              parameters:
                TARGET_DB: ${TARGET_DB}
          - job:
              id: metadata
              type: Metadata
              metacat:
                tables:
                  - ${CATALOG}/${TARGET_DB}/${TARGET_TABLE}
                owner: ${username}
          - template:
              id: wap
              type: wap
              tables: [foo.t]
              write_jobs:
                - job:
                    id: write
                    type: Spark
                    spark:
                      script: $S3{./src/sparksql_write.sql}
              data_auditor:
                audits:
                  - function: columns_should_not_have_nulls
                    blocking: true
                    params: {table: "${TARGET_DB}.${TARGET_TABLE}", columns: [title_id]}
          - job:
              id: hwm
              type: HWM
              metacat:
                table: ${CATALOG}/${TARGET_DB}/${TARGET_TABLE}
                hwm_datetime: ${EXECUTION_DATE}
                hwm_timezone: ${EXECUTION_TIMEZONE}
        """)
    spec = load_workflow(path, RUN)
    assert [(j.id, j.type) for _, j in spec.jobs] == [
        ("ddl", "sql"), ("metadata", "metadata"), ("wap", "wap"), ("write", "sql"), ("hwm", "hwm"),
    ]
    assert spec.node("ddl").script == "./ddl/dataflow_sparksql_sample.sql"
    assert spec.node("metadata").all_tables == ["prodhive/foo/t"]
    assert spec.node("wap").audits[0].params["table"] == "foo.t"
    assert spec.node("hwm").table == "prodhive/foo/t"


def test_unknown_job_type_lists_the_known_ones_at_its_line(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - job:
              id: a
              type: sparkk
              script: a.sql
        """)
    with pytest.raises(SpecError) as exc:
        load_workflow(path, RUN)
    assert str(exc.value) == (
        f"{path}:5:13: steps[0].job.type: unknown job type 'sparkk'; "
        "expected one of: audit, cdc, hwm, metadata, move, pipeline, pyspark, python, sql, stream, wait"
    )


def test_missing_job_type_and_missing_field(tmp_path):
    path = write(tmp_path, "id: w\nsteps:\n  - job: {id: a, script: a.sql}\n")
    with pytest.raises(SpecError, match=r"3:10: steps\[0\]\.job: missing required field 'type'"):
        load_workflow(path, RUN)
    path = write(tmp_path, "id: w\nsteps:\n  - job:\n      id: h\n      type: hwm\n")
    with pytest.raises(SpecError, match=r"main.sch.yaml:3:5: steps\[0\]\.job\.table: missing required field 'table'"):
        load_workflow(path, RUN)


def test_wrong_type_and_unknown_field_are_reported_at_their_line(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - job:
              id: w
              type: wait
              table: a.b
              timeout: soon
        """)
    with pytest.raises(SpecError, match=r"7:7: steps\[0\]\.job\.timeout: .*valid number.*\(got 'soon'\)"):
        load_workflow(path, RUN)
    path = write(tmp_path, "id: w\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1, targt: a.b}\n")
    with pytest.raises(SpecError, match=r"steps\[0\]\.job\.targt: unknown field 'targt'; did you mean 'target'"):
        load_workflow(path, RUN)


def test_sql_job_needs_exactly_one_of_script_and_sql(tmp_path):
    path = write(tmp_path, "id: w\nsteps:\n  - job: {id: a, type: sql}\n")
    with pytest.raises(SpecError, match="exactly one of 'script'"):
        load_workflow(path, RUN)


def test_a_step_must_be_job_or_template(tmp_path):
    path = write(tmp_path, "id: w\nsteps:\n  - jbo: {id: a, type: sql, sql: SELECT 1}\n")
    with pytest.raises(SpecError, match=r"3:5: steps\[0\]: expected a step written as `- job: \{...\}` or `- template"):
        load_workflow(path, RUN)


def test_write_jobs_must_be_sql_or_python(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - template:
              id: wap
              tables: [a.b]
              write_jobs:
                - job: {id: m, type: metadata, table: a.b}
        """)
    with pytest.raises(SpecError, match=r"write_jobs\[0\]\.job\.type: a 'metadata' job cannot write inside a WAP"):
        load_workflow(path, RUN)


def test_duplicate_ids_are_reported_at_the_second_one(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - job: {id: a, type: sql, sql: SELECT 1}
          - template:
              id: wap
              tables: [a.b]
              write_jobs:
                - job: {id: a, type: sql, sql: SELECT 2}
        """)
    with pytest.raises(SpecError) as exc:
        load_workflow(path, RUN)
    assert error_at(exc)[0] == 8
    assert "duplicate id 'a' (already used by steps[0].job)" in str(exc.value)


def test_unknown_dependency_and_cycles(tmp_path):
    path = write(tmp_path, """\
        id: w
        steps:
          - job: {id: a, type: sql, sql: SELECT 1}
          - job: {id: b, type: sql, sql: SELECT 1, depends_on: [a, c]}
        """)
    with pytest.raises(SpecError, match=r"4:60: steps\[1\]\.job\.depends_on\[1\]: unknown step 'c' \(steps: a, b\)"):
        load_workflow(path, RUN)
    path = write(tmp_path, """\
        id: w
        steps:
          - job: {id: a, type: sql, sql: SELECT 1, depends_on: [c]}
          - job: {id: b, type: sql, sql: SELECT 1, depends_on: [a]}
          - job: {id: c, type: sql, sql: SELECT 1, depends_on: [b]}
        """)
    with pytest.raises(SpecError, match=r"depends_on forms a cycle: a -> b -> c -> a"):
        load_workflow(path, RUN)


def test_unknown_audit_and_bad_audit_params_fail_at_load_time(tmp_path):
    audit_job = """\
        id: w
        steps:
          - job:
              id: check
              type: audit
              audits:
                - function: {function}
                  params: {params}
        """
    path = write(tmp_path, audit_job.replace("{function}", "columns_should_not_have_null").replace("{params}", "{table: a.b, columns: [x]}"))
    with pytest.raises(SpecError, match=r"7:21: steps\[0\]\.job\.audits\[0\]\.function: Unknown audit 'columns_should_not_have_null'. Did you mean 'columns_should_not_have_nulls'"):
        load_workflow(path, RUN)
    path = write(tmp_path, audit_job.replace("{function}", "columns_should_not_have_nulls").replace("{params}", "{table: a.b}"))
    with pytest.raises(SpecError, match=r"8:11: steps\[0\]\.job\.audits\[0\]\.params\.columns: missing required field 'columns'"):
        load_workflow(path, RUN)
    path = write(tmp_path, audit_job.replace("{function}", "table_should_not_be_empty").replace("{params}", "{}"))
    with pytest.raises(SpecError, match="missing required parameter 'table'"):
        load_workflow(path, RUN)


def test_malformed_yaml_is_one_clear_error(tmp_path):
    path = write(tmp_path, "id: w\nsteps:\n  - job: {id: a, type: sql\n")
    with pytest.raises(SpecError, match=r"main.sch.yaml:\d+:\d+: invalid YAML"):
        load_workflow(path, RUN)


def test_unquoted_parameter_in_a_flow_collection_gets_a_hint(tmp_path):
    path = write(tmp_path, "id: w\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1, target: ${DB}.t}\n")
    with pytest.raises(SpecError, match=r"main.sch.yaml:3:\d+: invalid YAML: .*must be quoted"):
        load_workflow(path, RUN)


def test_workflow_id_must_be_a_plain_name(tmp_path):
    path = write(tmp_path, "id: my workflow!\nsteps:\n  - job: {id: a, type: sql, sql: SELECT 1}\n")
    with pytest.raises(SpecError, match=r"1:1: id: .*pattern"):
        load_workflow(path, RUN)


def test_daily_workflow(tmp_path):
    write(tmp_path, MAIN)
    path = write(tmp_path, """\
        id: dataflow_sample_daily
        type: daily
        workflow: main.sch.yaml
        schedule: "0 6 * * *"
        lookback_days: 2
        timezone: UTC
        params: {TARGET_DB: foo}
        trigger: {hwm_of: some_db.source_table}
        hwm: ["${TARGET_DB}.dataflow_sample_results"]
        notifications: {webhook: "http://127.0.0.1:9/hook"}
        """, "daily.sch.yaml")
    spec = load_workflow(path, RUN)
    assert isinstance(spec, DailySpec)
    assert spec.workflow_path == (tmp_path / "main.sch.yaml").resolve()
    assert (spec.schedule, spec.lookback_days, spec.timezone) == ("0 6 * * *", 2, "UTC")
    assert spec.trigger is not None and spec.trigger.hwm_of == "some_db.source_table"
    assert spec.hwm == ["foo.dataflow_sample_results"]
    assert spec.notifications is not None and spec.notifications.webhook == "http://127.0.0.1:9/hook"


def test_daily_rejects_bad_cron_timezone_and_missing_main(tmp_path):
    write(tmp_path, MAIN)
    daily = "id: d\ntype: daily\nworkflow: main.sch.yaml\nschedule: '{cron}'\ntimezone: {tz}\n"
    path = write(tmp_path, daily.format(cron="0 25 * * *", tz="UTC"), "daily.sch.yaml")
    with pytest.raises(SpecError, match=r"4:1: schedule: invalid cron expression '0 25 \* \* \*'"):
        load_workflow(path, RUN)
    path = write(tmp_path, daily.format(cron="0 6 * * *", tz="Mars/Olympus"), "daily.sch.yaml")
    with pytest.raises(SpecError, match=r"5:1: timezone: unknown time zone 'Mars/Olympus'"):
        load_workflow(path, RUN)
    path = write(tmp_path, "id: d\ntype: daily\nworkflow: nope.sch.yaml\nschedule: '0 6 * * *'\n", "daily.sch.yaml")
    with pytest.raises(SpecError, match=r"3:11: workflow: main workflow file not found"):
        load_workflow(path, RUN)


def test_backfill_workflow(tmp_path):
    write(tmp_path, MAIN)
    path = write(tmp_path, "id: b\ntype: Backfill\nworkflow: main.sch.yaml\nstart: 2022-01-01\nend: 2022-01-31\nparallel: 4\n", "backfill.sch.yaml")
    spec = load_workflow(path, {})
    assert isinstance(spec, BackfillSpec)
    assert (str(spec.start), str(spec.end), spec.parallel) == ("2022-01-01", "2022-01-31", 4)
    path = write(tmp_path, "id: b\ntype: backfill\nworkflow: main.sch.yaml\nparallel: 0\n", "backfill.sch.yaml")
    with pytest.raises(SpecError, match=r"4:1: parallel: .*greater than or equal to 1"):
        load_workflow(path, {})
    path = write(tmp_path, "id: b\ntype: backfill\nworkflow: main.sch.yaml\nstart: 2022-02-01\nend: 2022-01-01\n", "backfill.sch.yaml")
    with pytest.raises(SpecError, match=r"'end' \(2022-01-01\) is before 'start' \(2022-02-01\)"):
        load_workflow(path, {})


def test_unknown_workflow_type(tmp_path):
    path = write(tmp_path, "id: x\ntype: weekly\nworkflow: main.sch.yaml\n")
    with pytest.raises(SpecError, match=r"2:7: type: unknown workflow type 'weekly'; expected one of: main, daily, backfill"):
        load_workflow(path, {})


def test_the_shipped_sample_recipe_loads(tmp_path):
    from towpath.samples import recipe_path

    folder = recipe_path("spark-sql")
    main = load_workflow(folder / "main.sch.yaml", RUN)
    assert isinstance(main, WorkflowSpec) and list(main.dag()) == ["ddl", "metadata", "wap", "hwm"]
    assert isinstance(load_workflow(folder / "daily.sch.yaml", RUN), DailySpec)
    assert isinstance(load_workflow(folder / "backfill.sch.yaml", RUN), BackfillSpec)


def test_every_main_example_in_the_docs_loads(tmp_path):
    import re

    docs = Path(__file__).parents[2] / "docs" / "workflows.md"
    blocks = re.findall(r"```yaml\n(.*?)```", docs.read_text(), flags=re.DOTALL)
    mains = [b for b in blocks if b.startswith("id:") and "steps:" in b]
    assert mains
    for block in mains:
        spec = load_workflow(write(tmp_path, block), RUN)
        assert isinstance(spec, WorkflowSpec) and spec.dag()
    (tmp_path / "main.sch.yaml").write_text(mains[0])
    for block in blocks:
        if block.startswith("id:") and ("type: daily" in block or "type: backfill" in block):
            assert load_workflow(write(tmp_path, block, "other.sch.yaml"), RUN).type in ("daily", "backfill")


def test_daily_needs_a_schedule_or_a_trigger(tmp_path):
    main = tmp_path / "main.sch.yaml"
    main.write_text("id: m\nsteps:\n  - job: {id: h, type: hwm, table: a.b}\n")
    daily = tmp_path / "daily.sch.yaml"
    daily.write_text("id: d\ntype: daily\nworkflow: main.sch.yaml\n")

    with pytest.raises(SpecError, match="schedule"):
        load_workflow(daily)
