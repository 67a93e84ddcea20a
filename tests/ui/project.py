"""The console's test project: the Spark SQL sample (the demo's workflow) with real runs on three dates,
a failing blocking audit that keeps its WAP branch, and a key-value move into the embedded engine."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from towpath.project import Project

RESULTS = "foo.dataflow_sample_results"
ROWS_PER_DAY = 3_000
FAILING_AUDIT = """\
        - function: values_between
          blocking: true
          params: {table: foo.dataflow_sample_results, column: title_rank, min: 1, max: 10}
"""
MOVE = textwrap.dedent("""\
    data_movement:
      source:
        sql: >
          SELECT country_code, title_rank, title_id, view_hours
          FROM foo.dataflow_sample_results WHERE date = DATE '2022-01-01'
      key_columns: [country_code, title_id]
    key_value_dal:
      url: embedded
      namespace: top_titles
      keep_versions: 3
      audits:
        - type: sample_matches_source
          rows: 50
    protobuf:
      package: demo.top_titles.v1
      output: proto
""")


def build(root: Path) -> Project:
    """Runs: 2022-01-01 and 2022-01-02 publish; 2022-01-03 fails `values_between` (branch kept);
    the move runs twice (two versions, so a rollback has somewhere to go); a rename of a source column
    is planned (the sample's write job is its consumer)."""
    from towpath.migrations import one_change, plan_migration
    from towpath.moves import MoveWorkspace, load_move, run_move
    from towpath.samples import load_source_table, recipe_path

    project = Project.init(root, name="shop")
    folder = project.root / "sample"
    shutil.copytree(recipe_path("spark-sql"), folder)
    load_source_table(project, dates=["2022-01-01", "2022-01-02", "2022-01-03"], rows_per_day=ROWS_PER_DAY)
    workflow = folder / "main.sch.yaml"
    for date in ("2022-01-01", "2022-01-02"):
        assert project.run(workflow, date=date).ok
    text = workflow.read_text()
    workflow.write_text(text.replace("      audits:\n", "      audits:\n" + FAILING_AUDIT, 1))
    failed = project.run(workflow, date="2022-01-03")
    assert failed.status == "audit_failed", failed.error
    workflow.write_text(text)
    move = project.root / "top_titles.move.yaml"
    move.write_text(MOVE)
    workspace = MoveWorkspace(project.catalog, project.state, project.root, lambda: project.engine)
    for _ in range(2):
        run_move(load_move(move), workspace)
    rename = one_change(add=None, drop=None, retype=None, repartition=None, rename=("country_code", "country"))
    plan_migration(project, "some_db.source_table", rename, reason="a clearer name", deadline="2027-01-31")
    return project
