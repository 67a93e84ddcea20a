"""A project of three workflows chained through tables, each owned by someone else:

    load_orders (ops@example.com)      -> sales.orders
    daily_totals (team alias analytics) reads sales.orders.amount -> sales.daily_totals
    big_orders (bob@example.com)        reads sales.orders.amount -> sales.big_orders

with real notification channels: an aiosmtpd server, a webhook receiver and a file outbox.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from services import http_service

WORKFLOWS = {
    "load_orders": ("ops@example.com", """\
        CREATE TABLE IF NOT EXISTS sales.orders (
            order_id BIGINT,
            amount DOUBLE,
            day DATE
        ) PARTITIONED BY (day);
        """, """\
        INSERT OVERWRITE TABLE sales.orders
        SELECT CAST(id AS BIGINT) AS order_id, CAST(id * 60.0 AS DOUBLE) AS amount, DATE '${DATE}' AS day
        FROM range(1, 4) AS t(id);
        """),
    "daily_totals": ("analytics", """\
        CREATE TABLE IF NOT EXISTS sales.daily_totals (day DATE, total DOUBLE);
        """, """\
        INSERT OVERWRITE TABLE sales.daily_totals
        SELECT day, SUM(amount) AS total
        FROM sales.orders
        GROUP BY day;
        """),
    "big_orders": ("bob@example.com", """\
        CREATE TABLE IF NOT EXISTS sales.big_orders (order_id BIGINT, amount DOUBLE);
        """, """\
        INSERT OVERWRITE TABLE sales.big_orders
        SELECT order_id, amount
        FROM sales.orders
        WHERE amount > 100;
        """),
}


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    url: ClassVar[str] = ""

    def do_POST(self) -> None:
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[list[dict[str, object]]]:
    """The JSON bodies the webhook receiver got (its URL is `webhook.url`)."""
    Hook.received = []
    with http_service(Hook) as url:
        Hook.url = f"{url}/hook"
        yield Hook.received


@pytest.fixture
def chained(project, smtp_server, webhook):
    """The three workflows, run once for 2022-01-01; returns the (reopened) project."""
    smtp_server.clear()
    (project.root / "towpath.yaml").write_text(textwrap.dedent(f"""\
        name: test
        notifications:
          owners:
            analytics: [ana@example.com, al@example.com]
          channels:
            - {{type: smtp, host: 127.0.0.1, port: {smtp_server.port}, sender: towpath@example.com, events: [migration]}}
            - {{type: webhook, url: '{Hook.url}', events: [migration]}}
            - {{type: file, path: notices}}
        """))
    for name, (owner, ddl, sql) in WORKFLOWS.items():
        folder = project.root / name
        (folder / "ddl").mkdir(parents=True)
        (folder / "ddl" / "create.sql").write_text(textwrap.dedent(ddl))
        (folder / "load.sql").write_text(textwrap.dedent(sql))
        (folder / "main.sch.yaml").write_text(textwrap.dedent(f"""\
            id: {name}
            owner: {owner}
            steps:
              - job: {{id: ddl, type: sql, script: ddl/create.sql}}
              - job: {{id: load, type: sql, script: load.sql}}
            """))
    reopened = type(project)(project.root)
    for name in WORKFLOWS:
        assert reopened.run(f"{name}/main.sch.yaml", date="2022-01-01").ok
    return reopened


@pytest.fixture
def run_all():
    def run(project, date: str) -> None:
        for name in WORKFLOWS:
            result = project.run(f"{name}/main.sch.yaml", date=date)
            assert result.ok, result.error

    return run


@pytest.fixture
def edit():
    def replace(path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    return replace
