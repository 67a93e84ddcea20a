"""The README's two screenshots (the runs page, a table chart), taken from the demo project `make demo` builds.

The project is built the way `make demo` builds it (`python -m towpath.demo --keep DIR`, smaller: 4,000
sessions a day), its main job has run, and the console is served on it as `towpath ui` serves it. The
pictures go to the test's output, and with `TOWPATH_UPDATE_SCREENSHOTS=1` to `docs/images/ui-runs.png` and
`docs/images/ui-chart.png` (commit them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ui.serving import serving

from towpath.project import Project

REPO = Path(__file__).resolve().parents[2]
RESULTS = "foo.dataflow_sample_results"
CHART = (f"/tables/{RESULTS}/chart?x=country_code&aggregate=sum&y=view_hours&mark=bar"
         "&filter=country_code+IN+%28%27US%27%2C%27GB%27%2C%27DE%27%2C%27FR%27%2C%27BR%27%2C%27JP%27%29")


def test_readme_screenshots_come_from_the_demo_project(browser, tmp_path: Path):
    folder = tmp_path / "towpath-demo"
    demo = subprocess.run([sys.executable, "-m", "towpath.demo", "--keep", str(folder), "--rows", "4000"],
                          check=False, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "top 100 of each of 190 countries" in demo.stdout
    project = Project(folder)
    runs = project.state.list_runs()
    assert [(r.workflow_id, r.execution_date, r.status.value) for r in runs] == [
        ("dataflow_sparksql_sample", "2022-01-01", "success")]
    expected_bars = project.query(f"SELECT DISTINCT country_code FROM {RESULTS} WHERE country_code IN "
                                  "('US', 'GB', 'DE', 'FR', 'BR', 'JP')").num_rows

    context = browser.new_context(viewport={"width": 1200, "height": 420})
    page = context.new_page()
    try:
        with serving(project) as console:
            page.goto(f"{console.url}/runs")
            row = page.locator("table[data-live] tbody tr")
            assert row.count() == 1 and runs[0].run_id in row.inner_text() and "success" in row.inner_text()
            assert "towpath-demo" in page.locator("header").inner_text()
            page.screenshot(path=str(tmp_path / "ui-runs.png"))
            page.set_viewport_size({"width": 1200, "height": 720})
            page.goto(f"{console.url}{CHART}")
            page.wait_for_selector("figure.chart[data-drawn=true]")
            assert page.locator("figure.chart svg .mark-rect path").count() == expected_bars == 6
            page.screenshot(path=str(tmp_path / "ui-chart.png"))
    finally:
        context.close()
    for name in ("ui-runs.png", "ui-chart.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        if os.environ.get("TOWPATH_UPDATE_SCREENSHOTS") == "1":
            shutil.copy(tmp_path / name, REPO / "docs" / "images" / name)
