"""The sample recipes' lineage against a hand-written expectation: every output column's sources, and
every line of the write job that names a source column (SQL from sqlglot's lineage over the qualified
query, Python and PySpark from their modules' literals plus the job's declared `lineage:`)."""

from __future__ import annotations

import shutil

import pytest

from towpath.lineage import LineageGraph, Node
from towpath.samples import recipe_path
from towpath.testing import validate_project

SOURCE = "some_db.source_table"
RESULTS = "foo.dataflow_sample_results"

COLUMNS = {
    "title_id": {(SOURCE, "title_id")},
    "country_code": {(SOURCE, "country_code")},
    "title_rank": {(SOURCE, "country_code"), (SOURCE, "view_hours")},  # RANK() OVER (PARTITION BY .. ORDER BY ..)
    "view_hours": {(SOURCE, "view_hours")},
    "date": set(),  # DATE '${DATE}': a parameter, not a column
}
"""The same for every recipe: the four implement one business logic."""

READS = {
    "spark-sql": ("src/sparksql_write.sql", {
        5: {"title_id"}, 6: {"country_code"}, 7: {"view_hours"}, 9: {"date"}, 10: {"title_id"},
        11: {"view_hours"}, 13: {"title_id"}, 14: {"country_code"},
    }),
    "sql": ("src/sql_write.sql", {
        5: {"title_id"}, 6: {"country_code"}, 7: {"view_hours"}, 9: {"date"}, 10: {"title_id"}, 11: {"view_hours"},
    }),
    "python": ("src/python_write.py", {
        22: {"date"}, 23: {"title_id", "country_code", "view_hours"}, 30: {"title_id", "view_hours"},
        31: {"title_id", "country_code", "view_hours"}, 35: {"title_id", "country_code", "view_hours"},
        36: {"country_code", "view_hours"}, 39: {"title_id", "country_code", "view_hours"},
    }),
    "pyspark": ("src/pyspark_write.py", {
        24: {"title_id", "country_code", "view_hours", "date"}, 25: {"date"}, 26: {"title_id", "view_hours"},
        27: {"title_id", "country_code"}, 28: {"view_hours"}, 31: {"country_code", "view_hours"},
        38: {"title_id", "country_code", "view_hours", "date"},
    }),
}
"""Recipe -> (its write job's file, line -> the source columns named on it)."""


@pytest.fixture
def graph_of(project):
    def scan(recipe: str) -> tuple[LineageGraph, str]:
        folder = project.root / recipe
        shutil.copytree(recipe_path(recipe), folder)
        assert validate_project(project) == []
        return LineageGraph.from_state(project.state), str(folder)

    return scan


@pytest.mark.parametrize("recipe", sorted(READS))
def test_the_sample_lineage_is_complete_and_correct_at_column_level(graph_of, recipe):
    graph, folder = graph_of(recipe)

    write = [e for e in graph.edges if e.target == RESULTS and e.job_id == "wap.write"]
    found = {column: {(e.source, e.source_column) for e in write if e.target_column == column} for column in COLUMNS}
    assert found == COLUMNS
    assert {e.target_column for e in write} <= set(COLUMNS)
    file, lines = READS[recipe]
    reads: dict[int, set[str]] = {}
    for use in graph.uses:
        if use.job_id == "wap.write" and use.table == SOURCE and use.column and use.role == "read":
            assert use.file == f"{folder}/{file}"
            reads.setdefault(use.line or 0, set()).add(use.column)
    assert reads == lines


def test_upstream_of_a_column_names_the_job_and_the_lines(graph_of):
    graph, folder = graph_of("spark-sql")

    view = graph.walk(graph.node(f"{RESULTS}.title_rank"), "upstream")

    assert {(str(h.source), h.job, h.kind) for h in view.hops} == {
        (f"{SOURCE}.country_code", "wap.write", "sql"), (f"{SOURCE}.view_hours", "wap.write", "sql")}
    hop = next(h for h in view.hops if h.source.column == "view_hours")
    assert hop.reads == (f"{folder}/src/sparksql_write.sql:7", f"{folder}/src/sparksql_write.sql:11")
    # the audits read the column too: a change to it must look at them
    assert {(u.job_id, u.role) for u in view.uses} >= {("wap", "read"), ("ddl", "ddl")}


def test_downstream_of_the_source_table_reaches_the_results(graph_of):
    graph, _ = graph_of("sql")

    view = graph.walk(Node(SOURCE), "downstream", depth=1)

    assert {(str(h.source), str(h.target)) for h in view.hops} == {(SOURCE, RESULTS)}
    assert view.to_mermaid().startswith("flowchart LR\n")
    assert f'"{SOURCE}" -> "{RESULTS}"' in view.to_dot()
