"""Notification channels against real receivers: an aiosmtpd server, a stdlib webhook receiver, a folder."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from services import free_port, http_service
from towpath.config import load_project_config
from towpath.errors import SpecError
from towpath.notify import CHANNELS, Notice, Notifier


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hook():
    _Hook.received, _Hook.status = [], 204
    with http_service(_Hook) as url:
        yield url


def _project(tmp_path: Path, notifications: str) -> Path:
    (tmp_path / "towpath.yaml").write_text(f"name: t\nnotifications:\n{notifications}")
    return tmp_path


def _notifier(root: Path) -> Notifier:
    return Notifier.for_project(root, load_project_config(root))


NOTICE = Notice(kind="migration", subject="orders.amount is renamed", body="# Rename\n\n`amount` -> `total`\n",
                recipients=("alice@example.com",), data={"migration": "m1"})


def test_every_channel_delivers_one_notice(tmp_path, smtp_server, hook):
    smtp_server.clear()
    root = _project(tmp_path, f"""\
  channels:
    - {{type: smtp, host: 127.0.0.1, port: {smtp_server.port}, sender: towpath@example.com, to: [lead@example.com]}}
    - {{type: webhook, url: '{hook}/hook'}}
    - {{type: file, path: outbox}}
    - {{type: log}}
""")
    deliveries = _notifier(root).send(NOTICE)

    assert [d.ok for d in deliveries] == [True, True, True, True], deliveries
    mail = smtp_server.wait_for(1)[0]
    assert mail["Subject"] == "orders.amount is renamed" and mail["From"] == "towpath@example.com"
    assert smtp_server.envelopes[0][1] == ["alice@example.com", "lead@example.com"]
    assert "`amount` -> `total`" in mail.get_content() and mail["X-Towpath-Notice"] == NOTICE.key
    assert _Hook.received == [{"migration": "m1", "event": "migration", "subject": NOTICE.subject,
                               "text": NOTICE.body, "notice_key": NOTICE.key}]
    written = json.loads((root / "outbox" / f"{NOTICE.key}.json").read_text())
    assert written["recipients"] == ["alice@example.com"] and written["data"] == {"migration": "m1"}
    assert (root / "outbox" / f"{NOTICE.key}.md").read_text().startswith("To: alice@example.com\nSubject: orders")


def test_a_channel_that_fails_does_not_stop_the_others(tmp_path, hook):
    dead = free_port()  # nobody listens: the SMTP server "went away"
    _Hook.status = 500
    root = _project(tmp_path, f"""\
  channels:
    - {{type: smtp, host: 127.0.0.1, port: {dead}, timeout: 2}}
    - {{type: webhook, url: '{hook}/hook'}}
    - {{type: file, path: outbox}}
""")
    deliveries = _notifier(root).send(NOTICE)

    assert [d.ok for d in deliveries] == [False, False, True]
    assert f"smtp:127.0.0.1:{dead}" in (deliveries[0].error or "")
    assert "500" in (deliveries[1].error or "")
    assert (root / "outbox" / f"{NOTICE.key}.md").is_file()


def test_events_filter_which_notices_a_channel_receives(tmp_path):
    root = _project(tmp_path, "  channels:\n    - {type: file, path: failures, events: [failure]}\n"
                              "    - {type: file, path: all}\n")
    deliveries = _notifier(root).send(NOTICE)

    assert len(deliveries) == 1 and not (root / "failures").exists() and (root / "all").is_dir()


def test_owner_aliases_resolve_to_addresses(tmp_path):
    root = _project(tmp_path, "  owners:\n    data-eng: [ana@example.com, bo@example.com]\n")
    notifier = _notifier(root)

    assert notifier.recipients(["data-eng", "cy@example.com", "ana@example.com", "nobody"]) == (
        "ana@example.com", "bo@example.com", "cy@example.com")


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("{type: smpt, host: x}", "notifications.channels[1].type", "Did you mean 'smtp'"),
    ("{type: smtp, port: many}", "notifications.channels[1].port", "valid integer"),
    ("{type: webhook}", "notifications.channels[1].url", "missing required field 'url'"),
    ("{type: file, paht: x}", "notifications.channels[1].paht", "did you mean 'path'"),
    ("{host: x}", "notifications.channels[1]", "expected a channel with a 'type'"),
])
def test_a_bad_channel_is_an_error_at_its_line(tmp_path, entry, where, message):
    root = _project(tmp_path, f"  channels:\n    - {{type: log}}\n    - {entry}\n")

    with pytest.raises(SpecError) as caught:
        _notifier(root)

    assert caught.value.field == where and message in str(caught.value)
    assert caught.value.line == 5 and str(caught.value.file).endswith("towpath.yaml")


def test_the_registry_lists_the_built_in_channels():
    assert CHANNELS.names() == ["file", "log", "smtp", "webhook"]
