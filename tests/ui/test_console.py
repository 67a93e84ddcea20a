"""The console without a browser: every page's JSON is what the matching CLI `--json` prints, bad input is a
clear 4xx naming the field, the server refuses the network without a token, and the state it adds (run graphs,
date grids, saved charts) reads back."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from tests.ui.project import RESULTS

from towpath.cli.main import cli
from towpath.ui import UiAuthError, UiConfig, check_config, create_app
from towpath.ui.svg import layers

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def client(ui_project):
    return TestClient(create_app(ui_project, UiConfig(token="t")))


def cli_json(project, *args: str):
    result = CliRunner().invoke(cli, ["-C", str(project.root), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_pages_as_json_are_the_cli_json(client, ui_project):
    assert client.get("/runs", headers=JSON).json() == cli_json(ui_project, "runs", "list", "-n", "50")
    run_id = ui_project.state.list_runs(status="audit_failed")[0].run_id
    page = client.get(f"/runs/{run_id}", headers=JSON).json()
    shown = cli_json(ui_project, "runs", "show", run_id)
    assert {k: page[k] for k in ("run", "jobs", "audits")} == shown
    assert page["stagings"][0]["status"] == "kept" and page["graph"]["wap"] == ["metadata"]
    table = client.get(f"/tables/{RESULTS}", headers=JSON).json()
    assert table["description"] == cli_json(ui_project, "table", "show", RESULTS)
    assert client.get("/tables", headers=JSON).json() == cli_json(ui_project, "table", "list")
    stores = client.get("/kv", headers=JSON).json()
    assert stores[0]["overview"] == cli_json(ui_project, "kv", "namespaces")
    assert stores[0]["aliases"][0]["versions"] == cli_json(ui_project, "move", "versions", "top_titles")
    assert client.get("/migrations", headers=JSON).json() == cli_json(ui_project, "migration", "status")


def test_a_key_lookup_is_kv_get_with_the_recorded_schema(client, ui_project):
    """The lookup decodes with the schema the state room recorded, as `kv get` does: it works with the move's
    generated module folder gone (and `kv get --proto-module` of that module agrees)."""
    row = ui_project.query(f"SELECT title_id, title_rank FROM {RESULTS} WHERE date = DATE '2022-01-01' "
                           "AND country_code = 'NO' LIMIT 1").to_pylist()[0]
    key = json.dumps({"country_code": "NO", "title_id": row["title_id"]})
    generated = ui_project.root / "proto"
    with_module = cli_json(ui_project, "kv", "get", "top_titles", key, "--proto-module",
                           str(generated / "top_titles_pb2.py"))
    moved = generated.rename(ui_project.root / "proto-moved-away")
    try:
        page = client.get("/kv/top_titles/lookup", params={"key": key}, headers=JSON).json()
        assert page["found"] and page["value"]["title_rank"] == row["title_rank"]
        assert page["schema"] == "demo.top_titles.v1.KeyMessage -> demo.top_titles.v1.ValueMessage"
        assert {k: page[k] for k in ("namespace", "found", "value")} == cli_json(
            ui_project, "kv", "get", "top_titles", key) == with_module
        kv = client.get("/kv", headers=JSON).json()
        assert kv[0]["aliases"][0]["schema"] == page["schema"]
        missing = client.get("/kv/top_titles/lookup", params={"key": '{"country_code": "XX", "title_id": 1}'},
                             headers=JSON).json()
        assert missing["found"] is False
    finally:
        moved.rename(generated)


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/runs?since=yesterday", 400, "since: expected a date like 2024-01-31, got 'yesterday'"),
    ("/runs?status=great", 400, "status: expected one of"),
    ("/runs?page=0", 400, "page: expected a whole number from 1"),
    ("/runs/20990101T000000-abcdef", 404, "20990101T000000-abcdef"),
    ("/grid?since=2022-01-05&until=2022-01-01", 400, "until (2022-01-01) is before since (2022-01-05)"),
    ("/tables/foo.dataflow_sample_result", 404, "foo.dataflow_sample_results"),
    (f"/tables/{RESULTS}/preview?ref=nope", 404, "no branch or tag 'nope'"),
    (f"/tables/{RESULTS}/preview?limit=100000", 400, "limit: expected 1 to 500"),
    (f"/tables/{RESULTS}/chart?x=colour", 400, "x: 'colour' is not a column of foo.dataflow_sample_results"),
    (f"/tables/{RESULTS}/chart?x=date&aggregate=median", 400, "aggregate: expected one of"),
    (f"/tables/{RESULTS}/chart?x=date&aggregate=sum", 400, "y: sum needs a column"),
    (f"/tables/{RESULTS}/chart?x=date&filter=title_rank+IN+(SELECT+1)", 400, "without subqueries"),
    (f"/tables/{RESULTS}/chart?x=date&filter=title_rank+%3C%3D", 400, "filter: not one SQL condition"),
    (f"/tables/{RESULTS}/chart?x=date&filter=secret+%3D+1", 400, "filter: 'secret' is not a column"),
    ("/lineage?node=nowhere.table", 404, "no workflow reads or writes 'nowhere.table'"),
    ("/kv/nope/lookup?key=%7B%7D", 404, "no *.move.yaml of this project writes the alias 'nope'"),
    ("/kv/top_titles/lookup?key=%7Bnot+json", 400, "KEY_JSON is not JSON"),
    ("/migrations/m-none", 404, "m-none"),
])
def test_bad_input_is_a_clear_error(client, path, status, words):
    answer = client.get(path, headers=JSON)
    assert answer.status_code == status and words in answer.json()["error"], answer.json()
    page = client.get(path)
    assert page.status_code == status and "role=\"alert\"" in page.text


def test_actions_refuse_without_the_token_and_change_nothing(client, ui_project):
    before = ui_project.state.kv.alias("top_titles")
    assert client.post("/kv/top_titles/rollback", headers=JSON).status_code == 401
    assert client.post("/kv/top_titles/rollback", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert ui_project.state.kv.alias("top_titles") == before
    read_only = TestClient(create_app(ui_project, UiConfig()))
    refused = read_only.post("/kv/top_titles/rollback", headers={"Authorization": "Bearer t"})
    assert refused.status_code == 401 and "read-only" in refused.json()["error"]
    assert read_only.post("/login", data={"token": "t"}).status_code == 401
    bad = client.post("/kv/top_titles/rollback", data={"to": "two"}, headers={"Authorization": "Bearer t"})
    assert bad.status_code == 400 and "to: expected a version number" in bad.json()["error"]
    assert ui_project.state.kv.alias("top_titles") == before


def test_every_answer_carries_its_server_time(client):
    timing = client.get("/runs").headers["server-timing"]
    assert timing.startswith("app;dur=") and float(timing.split("=")[1]) > 0


def test_the_console_refuses_the_network_without_a_token(ui_project):
    with pytest.raises(UiAuthError, match="refusing to serve the console on 0.0.0.0 without a token"):
        check_config(UiConfig(host="0.0.0.0"))
    check_config(UiConfig(host="0.0.0.0", token="s3cret"))
    check_config(UiConfig(host="127.0.0.1"))
    result = CliRunner().invoke(cli, ["-C", str(ui_project.root), "ui", "--host", "0.0.0.0"], env={"TOWPATH_UI_TOKEN": ""})
    assert result.exit_code == 1 and "TOWPATH_UI_TOKEN" in result.output and "Traceback" not in result.output


def test_ui_help_teaches():
    result = CliRunner().invoke(cli, ["ui", "--help"])
    assert result.exit_code == 0 and "Accept: application/json" in result.output and "--port" in result.output


def test_runs_record_their_graph_and_the_grid_reads_latest_status(ui_project):
    state = ui_project.state
    runs = state.list_runs(workflow_id="dataflow_sparksql_sample", limit=100)
    assert all(r.graph == {"ddl": [], "metadata": ["ddl"], "wap": ["metadata"], "hwm": ["wap"]} for r in runs)
    assert all(r.workflow_path and r.workflow_path.endswith("main.sch.yaml") for r in runs)
    window = state.list_runs(workflow_id="dataflow_sparksql_sample", since="2022-01-02", until="2022-01-02")
    assert [r.execution_date for r in window] == ["2022-01-02"]
    total = state.count_runs(workflow_id="dataflow_sparksql_sample")
    paged = state.list_runs(workflow_id="dataflow_sparksql_sample", limit=1, offset=total - 1)
    assert paged[0].execution_date == "2022-01-01"
    cells = {c.execution_date: c for c in state.date_statuses(workflow_id="dataflow_sparksql_sample")}
    assert cells["2022-01-01"].status == "success" and cells["2022-01-01"].runs == 1
    latest = state.list_runs(workflow_id="dataflow_sparksql_sample", since="2022-01-03", until="2022-01-03")[0]
    assert cells["2022-01-03"].run_id == latest.run_id and cells["2022-01-03"].runs == len(
        state.list_runs(since="2022-01-03", until="2022-01-03", limit=100))


def test_saved_charts_are_replaced_by_id_and_deleted(ui_project):
    charts = ui_project.state.charts
    saved = charts.save(dashboard="ops", title="rows", table=RESULTS, spec={"x": "date"})
    again = charts.save(dashboard="ops", title="rows per day", table=RESULTS, spec={"x": "date", "mark": "line"},
                        chart_id=saved.chart_id)
    assert again.chart_id == saved.chart_id and again.created_at == saved.created_at
    assert [(c.title, c.spec) for c in charts.of_dashboard("ops")] == [("rows per day", {"x": "date", "mark": "line"})]
    assert charts.delete(saved.chart_id) and not charts.delete(saved.chart_id)
    assert charts.of_dashboard("ops") == []


def test_layers_put_each_step_after_its_furthest_dependency():
    assert layers({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"]}) == {
        "a": 0, "b": 1, "c": 1, "d": 2, "e": 3}
    assert layers({"a": ["b"], "b": ["a"]}) in ({"a": 1, "b": 0}, {"a": 0, "b": 1})  # a cycle does not hang


def test_the_console_warms_every_local_page_up_before_it_listens(ui_project):
    """The lifespan startup (which uvicorn awaits before it binds) renders each local page once, without error;
    the streams page (brokers, databases) is not among them."""
    app = create_app(ui_project, UiConfig())
    assert app.state.warm_up is None
    with TestClient(app) as started:
        warm = app.state.warm_up
        assert warm is not None and warm.failed == {}
        run_id = ui_project.state.list_runs(limit=1)[0].run_id
        assert {"templates", "imports", "/runs", f"/runs/{run_id}", "/grid", "/tables", "/lineage", "/migrations",
                "/dashboards", "/kv"} <= set(warm.steps)
        assert any(s.endswith("/chart") for s in warm.steps) and not any("streams" in s for s in warm.steps)
        assert started.get("/tables", headers=JSON).status_code == 200
    unwarmed = create_app(ui_project, UiConfig(warm_up=False))
    with TestClient(unwarmed):
        assert unwarmed.state.warm_up is None


def test_every_page_is_json_and_every_action_needs_the_token(client, ui_project):
    """A sweep of `pages.ROUTES`: each GET page answers JSON (no HTML) with its path parameters filled in from the
    project, each action refuses a request without the token (401) and changes nothing; no page loads a script,
    stylesheet or font from another host (the vendored Vega bundles work offline)."""
    import re

    from towpath.ui import pages

    run = ui_project.state.list_runs(status="audit_failed")[0]
    saved = ui_project.state.charts.save(dashboard="sweep", title="t", table=RESULTS, spec={"x": "date"})
    filled = {"run_id": run.run_id, "step": "wap", "table": RESULTS, "name": "sweep", "chart_id": saved.chart_id,
              "migration_id": client.get("/migrations", headers=JSON).json()[0]["id"], "alias": "top_titles"}
    query = {"/kv/{alias}/lookup": "?key=%7B%22country_code%22%3A+%22US%22%2C+%22title_id%22%3A+1%7D",
             "/tables/{table}/chart": "?x=date"}
    before = (ui_project.state.kv.alias("top_titles"), len(ui_project.state.list_runs(limit=1000)),
              len(ui_project.state.charts.of_dashboard("sweep")))
    for route, _, methods in pages.ROUTES:
        path = re.sub(r"\{(\w+)(?::path)?\}", lambda m: filled[m.group(1)], route)
        if methods == ["GET"]:
            answer = client.get(path + query.get(route, ""), headers=JSON)
            assert answer.status_code in (200, 307), (route, answer.text[:300])
            if answer.status_code == 200:
                assert answer.headers["content-type"].startswith("application/json"), route
                answer.json()
                html = client.get(path + query.get(route, "")).text
                assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", html), route
        elif route not in ("/login", "/logout"):
            refused = client.post(path, headers=JSON)
            assert refused.status_code == 401 and "token" in refused.json()["error"], route
    assert before == (ui_project.state.kv.alias("top_titles"), len(ui_project.state.list_runs(limit=1000)),
                      len(ui_project.state.charts.of_dashboard("sweep")))
    ui_project.state.charts.delete(saved.chart_id)
