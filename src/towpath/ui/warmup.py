"""Warm the console up before it accepts its first request, so that request is as fast as the next ones.

A fresh console's first page pays once-per-process costs that have nothing to do with
the request: the first imports of pyiceberg, pyarrow's dataset and compute kernels,
SQLAlchemy, DuckDB, LMDB and protobuf (1-2 s together on a busy machine), Jinja's
template compilation, the catalog's and the engine's connections, and every table's
metadata (the table list and the grid's marks read all of them; 100 tables are a few
hundred ms). `warm_up` pays them by rendering the pages that read only the project's
own files: the runs list, the newest run and its first step, the grid, the table list,
the first table's page, a page of its rows and a count chart, lineage, migrations,
dashboards, and key-value (its embedded store). The streams page is left out: it asks
brokers and databases, which may be slow or down, and a console must start anyway; its
modules (the Kafka client, the CDC room: seconds on a busy machine) are imported when the
project has a `*.stream.yaml` or `*.cdc.yaml`, and not otherwise.

The server runs this in its lifespan startup, before uvicorn binds the port (`towpath ui`
prints its URL when it is done, so a browser never waits on a half-started console).
A page that fails to warm (a KV server that is down) is only slower the first time, so
every step's error is logged and ignored.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request

if TYPE_CHECKING:
    from towpath.ui.app import Console

log = logging.getLogger(__name__)

MODULES = ("google.protobuf.json_format",)
"""What a key lookup imports on first use (not reached by the pages warmed)."""
STREAM_MODULES = {"*.stream.yaml": "towpath.streaming.status", "*.cdc.yaml": "towpath.cdc"}
"""What the streams page imports, by the job files that make it show something."""


@dataclass(frozen=True)
class WarmUp:
    seconds: float
    """Wall time of the whole warm-up."""
    steps: dict[str, float]
    """Seconds per step (a path, `templates`, `imports`)."""
    failed: dict[str, str]
    """Steps that raised, and why (each such page is only slower the first time)."""


def warm_up(console: Console) -> WarmUp:
    """Compile every template, import the panels' modules and render every local page once (see the module doc)."""
    from towpath.ui import pages

    started = time.perf_counter()
    steps: dict[str, float] = {}
    failed: dict[str, str] = {}

    def step(name: str, work: Callable[[], object]) -> None:
        began = time.perf_counter()
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - a page that cannot warm is only cold once: never stop the console
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.debug("warm-up of %s failed: %s", name, failed[name])
        steps[name] = time.perf_counter() - began

    def page(path: str, endpoint: pages.Page, query: str = "", **params: str) -> None:
        step(path, lambda: endpoint(console, _request(path, query, params), {}))

    step("templates", lambda: [console.templates.get_template(name) for name in console.templates.list_templates()])
    step("imports", lambda: [importlib.import_module(name) for name in (*MODULES, *_stream_modules(console))])
    page("/runs", pages.runs_list)
    newest = console.project.state.list_runs(limit=1)
    if newest:
        run_id = newest[0].run_id
        page(f"/runs/{run_id}", pages.run_detail, run_id=run_id)
        first = console.project.state.get_run(run_id).jobs
        if first:
            page(f"/runs/{run_id}/steps/{first[0].job_id}", pages.step_detail, run_id=run_id, step=first[0].job_id)
    page("/grid", pages.grid)
    page("/tables", pages.tables_list)
    tables = console.project.catalog.list_tables()
    if tables:
        table = tables[0]
        page(f"/tables/{table}", pages.table_detail, table=table)
        page(f"/tables/{table}/preview", pages.preview, "limit=1", table=table)
        column = console.descriptions.one(table).columns[0].name
        page(f"/tables/{table}/chart", pages.chart, f"x={quote(column)}&aggregate=count", table=table)
    page("/lineage", pages.lineage_graph)
    page("/migrations", pages.migrations_list)
    page("/dashboards", pages.dashboards)
    page("/kv", pages.kv)
    return WarmUp(time.perf_counter() - started, steps, failed)


def _stream_modules(console: Console) -> list[str]:
    from towpath.ui.streams import job_files

    return [module for pattern, module in STREAM_MODULES.items() if job_files(console.project, pattern)]


def _request(path: str, query: str, params: dict[str, str]) -> Request:
    """A GET of `path` as a browser sends it (HTML), never served: only the page function sees it."""
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query.encode(),
                    "headers": [(b"accept", b"text/html")], "path_params": params})
