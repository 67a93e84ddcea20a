"""The console in a real browser (Debian's chromium through Playwright): each page's content, the click path
run -> step -> audit -> branch preview, a chart's marks, a decoded key, actions behind the token,
keyboard navigation, labels and contrast. Every test saves screenshots under its tmp_path."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from tests.ui.project import RESULTS

A11Y_LABELS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.outerHTML)"""
CONTRAST = """(selector) => {
  const lum = (rgb) => { const [r, g, b] = rgb.match(/\\d+/g).slice(0, 3).map(Number).map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = (e) => { while (e) { const c = getComputedStyle(e).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)')) return c; e = e.parentElement; } return 'rgb(255, 255, 255)'; };
  return [...document.querySelectorAll(selector)].map(e => { const a = lum(getComputedStyle(e).color), b = lum(bg(e));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); });
}"""


def _accessible(page) -> None:
    """Every control has a label, and text (body, badges, links, buttons) reads at 4.5:1 or better."""
    assert page.evaluate(A11Y_LABELS) == []
    ratios = page.evaluate(CONTRAST, "main p, main td, .badge, main a, main button:not([disabled]), nav a")
    assert ratios and min(ratios) >= 4.5, min(ratios)


def failed_run(console) -> str:
    return console.project.state.list_runs(status="audit_failed")[0].run_id


def test_runs_list_filters_and_keyboard_navigation(console, page):
    page.goto(f"{console.url}/runs")
    rows = page.locator("table[data-live] tbody tr")
    assert rows.count() == 5
    assert "audit failed" in page.locator("table[data-live]").inner_text()
    _accessible(page)
    page.shot("runs")

    page.select_option("#f-status", "audit_failed")
    page.fill("#f-since", "2022-01-02")
    page.click("text=Filter")
    page.wait_for_url("**status=audit_failed**")
    assert rows.count() == 1 and failed_run(console) in rows.first.inner_text()
    page.goto(f"{console.url}/runs?workflow=dataflow_sparksql_sample")
    links = page.locator("table[data-live] tbody a.primary")
    links.first.focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent") == links.nth(1).inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url("**/runs/2*")
    assert page.locator("h1").inner_text().startswith("Run")


def test_run_to_step_to_audit_to_branch_preview(console, page):
    run_id = failed_run(console)
    page.goto(f"{console.url}/runs?status=audit_failed")
    page.click(f"text={run_id}")
    page.wait_for_url(f"**/runs/{run_id}")
    graph = page.locator("svg.graph")
    assert graph.locator("[data-node]").count() == 4  # ddl, metadata, wap, hwm
    assert graph.locator("path.edge").count() == 3
    assert "audit_failed" in graph.locator("[data-node='wap']").text_content()
    assert "skipped" in graph.locator("[data-node='hwm']").text_content()
    assert page.locator("svg.timeline rect.span").count() == 4  # three steps ran, and the WAP's write job
    assert "values_between" in page.locator("#main").inner_text()
    _accessible(page)
    page.shot("run")

    page.click("svg.graph a[data-node='wap']")
    page.wait_for_url(f"**/runs/{run_id}/steps/wap")
    audit = page.locator("section.audit.failing")
    assert audit.count() == 1 and "values_between" in audit.inner_text() and "failed, blocking" in audit.inner_text()
    sample = audit.locator("table.sample")
    ranks = [int(v) for v in sample.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert ranks and all(r > 10 for r in ranks)  # the failing rows: ranks outside 1..10
    page.shot("step")

    branch = console.project.state.stagings.of_run(run_id)[0].ref
    page.click("a.branch-preview")
    page.wait_for_url("**/preview?ref=*")
    assert page.locator("#ref").inner_text() == branch
    assert "not on main" in page.locator(".notice").inner_text()
    assert page.locator("table.preview tbody tr").count() == 50
    page.click("a[rel=next]")
    page.wait_for_url("**offset=50**")
    assert page.locator("#rows-range").inner_text().startswith("Rows 51 to")
    page.shot("branch-preview")


def test_grid_draws_status_per_date_and_the_mark(console, page):
    page.goto(f"{console.url}/grid?since=2022-01-01&until=2022-01-04")
    row = page.locator("table.grid tbody tr", has_text="dataflow_sparksql_sample")
    cells = row.locator("a.cell")
    assert [c.get_attribute("class") for c in cells.all()] == ["cell s-success", "cell s-success",
                                                                "cell s-audit_failed"]
    mark = row.locator("td.hwm")
    assert mark.count() == 1 and mark.locator("a.cell").get_attribute("title").startswith("2022-01-02")
    assert f"{RESULTS} mark 2022-01-02" in row.inner_text()
    page.shot("grid")


def test_table_page_and_a_chart_with_the_expected_marks(console, page):
    page.goto(f"{console.url}/tables/{RESULTS}")
    text = page.locator("#main").inner_text()
    assert "Rank of a given title in a given country." in text and "title_rank" in text
    assert "dataflow, sample" in text and "123 days" in text
    partitions = page.locator("h2:has-text('Partitions') + table tbody tr")
    assert partitions.count() == 2  # 2022-01-01 and 2022-01-02 on main (01-03 only on the kept branch)
    assert "date=2022-01-01" in partitions.first.inner_text()
    assert page.locator("a.ref", has_text="wap_").count() == 1
    _accessible(page)
    page.shot("table")

    page.select_option("#c-x", "country_code")
    page.select_option("#c-agg", "sum")
    page.select_option("#c-y", "view_hours")
    page.fill("#c-filter", "country_code IN ('US', 'GB', 'DE', 'FR') AND title_rank <= 5")
    page.click("text=Draw")
    page.wait_for_selector("figure.chart[data-drawn=true]")
    expected = console.project.query(
        f"SELECT DISTINCT country_code FROM {RESULTS} WHERE country_code IN ('US', 'GB', 'DE', 'FR')").num_rows
    assert page.locator("figure.chart svg .mark-rect path").count() == expected == 4
    share = page.locator("#share").get_attribute("href")
    page.shot("chart")

    page.goto(f"{console.url}{share.replace('mark=bar', 'mark=line')}&series=date")
    page.wait_for_selector("figure.chart[data-drawn=true]")
    assert page.locator("figure.chart svg .mark-line path").count() == 2  # one line per date on main


def test_saving_a_chart_needs_the_token_and_shows_on_the_dashboard(console, page):
    chart = f"{console.url}/tables/{RESULTS}/chart?x=date&aggregate=count&mark=bar"
    page.goto(chart)
    page.wait_for_selector("figure.chart[data-drawn=true]")
    assert page.locator("text=Save to dashboard").is_disabled()
    refused = page.request.post(f"{console.url}/dashboards/main/charts", form={"table": RESULTS, "x": "date"},
                                headers={"Accept": "application/json"})
    assert refused.status == 401 and "token" in refused.json()["error"]

    page.goto(f"{console.url}/login?next=/tables/{RESULTS}/chart%3Fx%3Ddate%26aggregate%3Dcount%26mark%3Dbar")
    page.fill("#token", console.token)
    page.press("#token", "Enter")
    page.wait_for_selector("figure.chart[data-drawn=true]")
    page.fill("#s-title", "Rows per day")
    page.fill("#s-dashboard", "daily")
    page.click("text=Save to dashboard")
    page.wait_for_url("**/dashboards/daily")
    page.wait_for_selector("figure.chart[data-drawn=true]")
    assert page.locator("section.card h2").all_inner_texts() == ["Rows per day"]
    assert page.locator("section.card svg .mark-rect path").count() == 2
    saved = console.project.state.charts.of_dashboard("daily")
    assert [c.spec for c in saved] == [{"aggregate": "count", "mark": "bar", "x": "date"}]
    page.shot("dashboard")


def test_lineage_graph_is_zoomable_and_shows_owners(console, page):
    page.goto(f"{console.url}/lineage")
    graph = page.locator("svg.graph")
    assert graph.locator(f"[data-node='{RESULTS}']").count() == 1
    assert graph.locator("[data-node='some_db.source_table']").count() == 1
    assert graph.locator("path.edge").count() >= 1
    before = graph.get_attribute("viewBox")
    page.click("[data-zoom-in]")
    assert graph.get_attribute("viewBox") != before
    page.click("[data-zoom-reset]")
    assert graph.get_attribute("viewBox") == before
    owner = os.environ.get("TOWPATH_USER") or getpass.getuser()  # the sample table's `owner: ${username}`
    assert graph.locator(f"[data-node='{RESULTS}']").text_content().endswith(owner)
    page.shot("lineage")
    page.click(f"svg.graph a[data-node='{RESULTS}']")
    page.wait_for_url("**/lineage?node=*")
    assert "Latest runs" in page.locator("#main").inner_text()


def test_a_migration_lists_its_consumers_and_their_progress(console, page):
    page.goto(f"{console.url}/migrations")
    row = page.locator("table tbody tr", has_text="some_db.source_table")
    assert "rename" in row.inner_text().lower() and "2027-01-31" in row.inner_text()
    row.locator("a.primary").click()
    page.wait_for_url("**/migrations/m*")
    consumer = page.locator("table tbody tr").first
    assert "dataflow_sparksql_sample.wap.write" in consumer.inner_text() and "breaking" in consumer.inner_text()
    assert "0 of 1 consumers done" in page.locator("#main").inner_text()
    _accessible(page)
    page.shot("migration")


def test_kv_versions_and_a_key_lookup_decoded_with_the_recorded_schema(console, page):
    page.goto(f"{console.url}/kv")
    alias = page.locator("section.alias", has_text="top_titles")
    versions = alias.locator("table tbody tr")
    assert versions.count() == 2 and "(readers)" in versions.nth(1).inner_text()
    source_snapshot = console.project.catalog.snapshot_id(RESULTS)
    assert f"{RESULTS}@{source_snapshot}" in alias.inner_text()
    assert "sample_matches_source: passed" in alias.inner_text() and "row_count: passed" in alias.inner_text()
    assert "demo.top_titles.v1.ValueMessage" in alias.inner_text()  # the schema the state room recorded
    _accessible(page)
    page.shot("kv")

    top = console.project.query(f"SELECT title_id, title_rank, view_hours FROM {RESULTS} WHERE date = DATE "
                                "'2022-01-01' AND country_code = 'US' ORDER BY title_rank LIMIT 1").to_pylist()[0]
    page.fill("#key-top_titles", json.dumps({"country_code": "US", "title_id": top["title_id"]}))
    page.press("#key-top_titles", "Enter")
    page.wait_for_url("**/kv/top_titles/lookup**")
    value = dict(zip(page.locator("#value th").all_inner_texts(), page.locator("#value td").all_inner_texts(),
                     strict=True))
    assert int(value["title_rank"]) == top["title_rank"]
    assert abs(float(value["view_hours"]) - top["view_hours"]) < 1e-6
    page.shot("kv-lookup")


def test_actions_need_the_token(console, page):
    run_id = failed_run(console)
    api = page.request
    refused = api.post(f"{console.url}/runs/{run_id}/rerun", headers={"Accept": "application/json"})
    assert refused.status == 401
    wrong = api.post(f"{console.url}/kv/top_titles/rollback", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and "token" in wrong.json()["error"]
    rolled = api.post(f"{console.url}/kv/top_titles/rollback", headers={"Authorization": f"Bearer {console.token}"})
    assert rolled.ok and rolled.json()["to"] == 1
    page.goto(f"{console.url}/kv")
    assert "(readers)" in page.locator("section.alias table tbody tr").first.inner_text()
    forward = api.post(f"{console.url}/kv/top_titles/rollback", form={"to": "2"},
                       headers={"Authorization": f"Bearer {console.token}"})
    assert forward.ok and forward.json()["to"] == 2


def test_rerun_a_date_from_the_run_page(console, page):
    run_id = failed_run(console)
    state = console.project.state
    before = {r.run_id for r in state.list_runs(limit=100)}
    page.goto(f"{console.url}/login?next=/runs/{run_id}")
    page.fill("#token", console.token)
    page.press("#token", "Enter")
    page.wait_for_url(f"**/runs/{run_id}")
    # never a publish-after-fix button: the audits decide, a rerun runs them again
    assert page.locator("main button").all_inner_texts() == ["Rerun 2022-01-03", "+", "−", "Reset"]
    page.click("text=Rerun 2022-01-03")
    page.wait_for_url("**/runs?workflow=*rerun=2022-01-03")
    page.wait_for_function(
        "() => [...document.querySelectorAll('table[data-live] tbody tr')].some(r => r.innerText.includes('success')"
        " && r.innerText.includes('2022-01-03'))", timeout=60_000)
    new = [r for r in state.list_runs(limit=100) if r.run_id not in before]
    assert [(r.execution_date, r.status.value) for r in new] == [("2022-01-03", "success")]
    page.shot("rerun")


def test_streams_show_lag_rates_and_dead_letters_with_raw_bytes(console, page, kafka_broker):
    """A stream job of the project read a real (Tansu) topic three times: lag per partition, rows/s over its commits,
    and the malformed messages as dead letters with their error and bytes."""
    import yaml

    from towpath.streaming import RunOptions, StreamJob, load_stream_spec

    project = console.project
    topic = "ui-orders"
    kafka_broker.create_topic(topic, partitions=2)
    spec = {"name": "orders", "source": {"bootstrap_servers": kafka_broker.bootstrap_servers, "topics": [topic],
                                         "start": "earliest"},
            "format": {"type": "json"}, "schema": "detect", "window": {"duration": "1s", "max_rows": 100_000},
            "sink": {"table": "lake.orders"}}
    path = project.root / "orders.stream.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for batch in range(3):  # three commits: two rates to draw
        messages = [json.dumps({"id": batch * 100 + i, "amount": i * 1.5}).encode() for i in range(100)]
        kafka_broker.produce(topic, [*messages, b'{"id": 7, "amount": '], partitions=2)
        StreamJob(load_stream_spec(path), project.root, project.catalog, project.state).run(
            RunOptions(until_caught_up=True, handle_signals=False))
    page.goto(f"{console.url}/streams")
    section = page.locator("section", has_text="orders → lake.orders")
    partitions = section.locator("table").first.locator("tbody tr")
    assert partitions.count() == 2
    lags = [r.locator("td").nth(3).inner_text() for r in partitions.all()]
    assert lags == ["0", "0"]
    assert section.locator("svg.sparkline polyline").count() == 1
    dead = section.locator("h3:has-text('Dead letters') + div table tbody tr")
    assert dead.count() == 3
    assert '{"id": 7, "amount":' in dead.first.inner_text() and "JSON" in dead.first.inner_text()
    page.shot("streams")


def test_a_files_sink_shows_its_windows_files_offsets_and_dead_letters(console, page, kafka_broker):
    """A stream into Parquet files (the streaming room's files sink): committed offsets per partition, committed
    windows, files and bytes as they are on disk, the last commit, rows/s per window, and the dead-letter files'
    messages with their error and raw bytes."""
    import pyarrow.dataset as ds
    import yaml

    from towpath.streaming import RunOptions, StreamJob, load_stream_spec

    project = console.project
    topic = "ui-clicks"
    kafka_broker.create_topic(topic, partitions=2)
    spec = {"name": "clicks", "source": {"bootstrap_servers": kafka_broker.bootstrap_servers, "topics": [topic],
                                         "start": "earliest"},
            "format": {"type": "json"}, "schema": "detect", "window": {"duration": "1s", "max_rows": 100_000},
            "sink": {"path": "lake/clicks", "format": "parquet"}}
    path = project.root / "clicks.stream.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for batch in range(3):
        messages = [json.dumps({"id": batch * 100 + i, "page": f"/p{i % 7}"}).encode() for i in range(100)]
        kafka_broker.produce(topic, [*messages, b'{"id": 9, "page": \xff'], partitions=2)
        StreamJob(load_stream_spec(path), project.root, project.catalog, project.state).run(
            RunOptions(until_caught_up=True, handle_signals=False))
    folder = project.root / "lake" / "clicks"
    written = [p for p in folder.rglob("part-*.parquet") if "_towpath" not in p.parts]
    assert ds.dataset([str(p) for p in written], format="parquet").count_rows() == 300
    windows = {p.name.rsplit("-", 1)[0] for p in written}
    offsets = {f"{o.topic}/{o.partition}": o.next_offset for o in project.state.offsets.of_stream("clicks")}
    assert sum(offsets.values()) == 303

    page.goto(f"{console.url}/streams")
    section = page.locator("section", has_text="clicks → lake/clicks")
    rows = section.locator("table").first.locator("tbody tr")
    assert {r.locator("td").nth(0).inner_text(): int(r.locator("td").nth(1).inner_text().replace(",", ""))
            for r in rows.all()} == offsets
    assert [r.locator("td").nth(3).inner_text() for r in rows.all()] == ["0", "0"]
    facts = section.locator("dl.files-sink")
    assert facts.locator("[data-fact=windows]").inner_text() == str(len(windows)) and len(windows) >= 3
    assert facts.locator("[data-fact=files]").inner_text().startswith(f"{len(written)} (")
    assert facts.locator("[data-fact=last-commit]").inner_text().startswith(
        max(o.committed_at for o in project.state.offsets.of_stream("clicks"))[:16].replace("T", " "))
    assert facts.locator("[data-fact=pending]").inner_text() == "none"
    assert facts.locator("[data-fact=dead-files]").inner_text().endswith("3 file(s)")
    assert section.locator("svg.sparkline polyline").count() == 1  # rows/s over the windows
    dead = section.locator("h3:has-text('Dead letters') + div table tbody tr")
    assert dead.count() == 3
    assert '{"id": 9, "page": \\xff' in dead.first.inner_text()  # the raw bytes, the bad one escaped
    page.shot("streams-files")
    shown = page.request.get(f"{console.url}/streams", headers={"Accept": "application/json"}).json()
    files = next(s for s in shown["streams"] if s["name"] == "clicks")["files"]
    assert files["bytes"] == sum(p.stat().st_size for p in written) and files["staged_files"] == 0


def test_the_cdc_panel_shows_a_real_job_its_lag_positions_rows_and_targets(console, page, postgres_wal, monkeypatch):
    """A `*.cdc.yaml` from a real PostgreSQL (logical WAL) into a lake table and the embedded KV store, run twice
    with `towpath cdc run --until-caught-up` (a snapshot, then changes); then rows the job has not read yet: the panel
    shows the job's state, its lag in bytes, the applied and source positions, rows and changes, and each target at
    the applied position, behind the source; the same as `towpath cdc status --json`."""
    import subprocess
    import sys

    import psycopg

    project = console.project
    monkeypatch.setenv("UI_CDC_DSN", postgres_wal.dsn)
    with psycopg.connect(postgres_wal.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE profiles (id int PRIMARY KEY, name text NOT NULL, city text)")
        conn.execute("INSERT INTO profiles SELECT i, 'user ' || i, 'city ' || (i % 5) FROM generate_series(1, 50) i")
    spec = project.root / "profiles.cdc.yaml"
    spec.write_text("name: profiles\nsource: {type: postgres, dsn: '${UI_CDC_DSN}', table: public.profiles}\n"
                    "batch: {max_rows: 100, max_seconds: 0.3}\n"
                    "targets:\n  - {type: iceberg, table: lake.profiles}\n  - {type: kv, namespace: profiles}\n")

    def towpath(*args: str) -> str:
        src = str(Path(__file__).resolve().parents[2] / "src")
        done = subprocess.run([sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), *args],
                              check=False, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": src})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    towpath("cdc", "run", str(spec), "--until-caught-up")
    with psycopg.connect(postgres_wal.dsn, autocommit=True) as conn:
        conn.execute("UPDATE profiles SET city = 'moved' WHERE id <= 10")
        conn.execute("DELETE FROM profiles WHERE id > 45")
    towpath("cdc", "run", str(spec), "--until-caught-up")
    assert project.catalog.read("lake.profiles").num_rows == 45
    with psycopg.connect(postgres_wal.dsn, autocommit=True) as conn:  # not read yet: the job lags
        conn.execute("INSERT INTO profiles SELECT i, 'late ' || i, NULL FROM generate_series(100, 119) i")
    status = json.loads(towpath("cdc", "status", str(spec), "--json"))
    status = status[0] if isinstance(status, list) else status
    assert status["lag_bytes"] > 0 and status["snapshot_rows"] == 0 and status["changes"] == 15  # of the last run

    page.goto(f"{console.url}/streams")
    section = page.locator("section", has=page.locator("h2", has_text="profiles"))
    facts = section.locator("dl.cdc")
    fact = {name: facts.locator(f"[data-fact={name}]").inner_text() for name in (
        "state", "source", "applied", "source-position", "lag", "snapshot-rows", "changes", "stream")}
    assert fact["state"] == "stopped" and fact["source"] == "postgres:public.profiles" and fact["stream"] == "ok"
    assert fact["applied"] == status["applied_position"] != fact["source-position"] == status["source_position"]
    assert fact["lag"].startswith(f"{status['lag_bytes']:,} bytes")
    assert fact["snapshot-rows"] == "0" and fact["changes"] == "15"
    targets = section.locator("table.targets tbody tr")
    assert [r.locator("td").all_inner_texts() for r in targets.all()] == [
        [t["target"], status["applied_position"], "behind the source"] for t in status["targets"]]
    assert len(status["targets"]) == 2
    _accessible(page)
    page.shot("cdc")
