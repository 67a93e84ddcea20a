"""Session fixtures of the console tests: one built project, one server on a free port, one browser.

The browser is Debian's chromium driven by Playwright (`executable_path`; Playwright's own
browser download is never used). Each test gets a fresh page and saves screenshots under
its tmp_path for a reviewer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.ui.project import build
from tests.ui.serving import Console, serving

import services
from towpath.project import Project

CHROMIUM = "/usr/bin/chromium"
TOKEN = "ui-test-token"


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build(tmp_path_factory.mktemp("ui") / "shop")


@pytest.fixture(scope="session")
def console(ui_project: Project) -> Iterator[Console]:
    with serving(ui_project, TOKEN) as served:
        yield served


@pytest.fixture(scope="session")
def postgres_wal() -> Iterator[services.PostgresServer]:
    """A PostgreSQL with `wal_level=logical` for the CDC panel's test (its own server, as tests/cdc have theirs)."""
    with services.postgres_server(settings={"wal_level": "logical", "max_replication_slots": "4",
                                            "max_wal_senders": "4"}) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make services does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.shot = lambda name: opened.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
