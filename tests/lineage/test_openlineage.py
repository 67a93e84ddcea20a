"""OpenLineage run events of real runs, sent to a local Marquez-style HTTP receiver and to a file, and
validated against the OpenLineage JSON schemas (tests/lineage/openlineage_spec, no network)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from services import http_service

SPEC = Path(__file__).parent / "openlineage_spec"


class _Marquez(BaseHTTPRequestHandler):
    events: ClassVar[list[dict[str, Any]]] = []
    paths: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).events.append(body)
            type(self).paths.append(self.path)
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def _validator() -> tuple[Draft202012Validator, Registry, dict[str, dict[str, Any]]]:
    schemas = {p.stem: json.loads(p.read_text()) for p in SPEC.glob("*.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return Draft202012Validator(schemas["OpenLineage"], registry=registry), registry, schemas


def validate(event: dict[str, Any]) -> None:
    """The event against OpenLineage.json, and each facet against its own facet schema."""
    validator, registry, schemas = _validator()
    validator.validate(event)
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        facets += dataset.get("facets", {}).values()
    for facet in facets:
        name = facet["_schemaURL"].rsplit("/", 1)[-1].split(".json")[0]
        schema = schemas[name]
        Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{name}"}, registry=registry).validate(facet)


@pytest.fixture
def marquez():
    _Marquez.events, _Marquez.paths = [], []
    with http_service(_Marquez) as url:
        yield url


def _configure(project, transport: str) -> Any:
    (project.root / "towpath.yaml").write_text(f"name: test\nopenlineage:\n  namespace: sample\n  transport: {transport}\n")
    return type(project)(project.root)


def test_a_run_sends_valid_start_and_complete_events_with_column_lineage(project, sample, marquez):
    project = _configure(project, f"{{type: http, url: '{marquez}'}}")

    result = project.run(sample, date="2022-01-01")

    assert result.ok, result.error
    events = _Marquez.events
    assert set(_Marquez.paths) == {"/api/v1/lineage"}
    for event in events:
        validate(event)
    names = [(e["eventType"], e["job"]["name"]) for e in events]
    assert names[0] == ("START", "dataflow_sparksql_sample") and names[-1] == ("COMPLETE", "dataflow_sparksql_sample")
    write = [e for e in events if e["job"]["name"] == "dataflow_sparksql_sample.wap.write"]
    assert [e["eventType"] for e in write] == ["START", "COMPLETE"]
    complete = write[1]
    assert complete["run"]["runId"] == write[0]["run"]["runId"]
    assert complete["run"]["facets"]["parent"]["job"]["name"] == "dataflow_sparksql_sample"
    assert [i["name"] for i in complete["inputs"]] == ["some_db.source_table"]
    [output] = complete["outputs"]
    assert output["name"] == "foo.dataflow_sample_results" and output["namespace"] == "iceberg://test"
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [
        "title_id", "country_code", "title_rank", "view_hours", "date"]
    lineage = output["facets"]["columnLineage"]["fields"]
    assert {c: sorted(f["field"] for f in v["inputFields"]) for c, v in lineage.items()} == {
        "country_code": ["country_code"], "title_id": ["title_id"], "title_rank": ["country_code", "view_hours"],
        "view_hours": ["view_hours"]}
    written = next(r.snapshot_id for r in project.state.lineage.runs(run_id=result.run_id)
                   if r.job_id == "wap.write" and r.role == "output")
    assert output["facets"]["version"]["datasetVersion"] == str(written)


def test_a_failed_step_is_a_fail_event_with_its_error(project, sample, tmp_path):
    events_file = tmp_path / "events.jsonl"
    project = _configure(project, f"{{type: file, log_file_path: '{events_file}'}}")
    (sample.parent / "src" / "sparksql_write.sql").write_text(
        "INSERT OVERWRITE TABLE foo.dataflow_sample_results SELECT title_id, country_code, 1, view_hours, "
        "DATE '${DATE}' FROM some_db.source_table WHERE CAST(country_code AS INT) > 0")

    result = project.run(sample, date="2022-01-01")

    assert not result.ok and "blocking audit(s) failed" in (result.error or ""), result.error
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    for event in events:
        validate(event)
    failed = [e for e in events if e["eventType"] == "FAIL"]
    assert {e["job"]["name"] for e in failed} == {"dataflow_sparksql_sample.wap", "dataflow_sparksql_sample"}
    assert all("table_should_not_be_empty" in e["run"]["facets"]["errorMessage"]["message"] for e in failed)


def test_dynamic_lineage_records_each_jobs_tables_and_snapshots(project, sample):
    result = project.run(sample, date="2022-01-01")

    rows = project.state.lineage.runs(run_id=result.run_id)
    write = {(r.role, r.table): r.snapshot_id for r in rows if r.job_id == "wap.write"}
    assert set(write) == {("input", "some_db.source_table"), ("output", "foo.dataflow_sample_results")}
    assert write[("input", "some_db.source_table")] == project.catalog.snapshot_id("some_db.source_table")
    assert write[("output", "foo.dataflow_sample_results")] is not None


def test_a_bad_transport_is_an_error_at_its_line(project, sample):
    from towpath.errors import SpecError

    project = _configure(project, "{type: nosuchtransport}")

    with pytest.raises(SpecError) as caught:
        project.run(sample, date="2022-01-01")
    assert caught.value.line == 4 and "OpenLineage transport" in str(caught.value)
    assert project.state.list_runs() == []
