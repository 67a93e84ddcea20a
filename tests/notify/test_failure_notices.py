"""Failed daily runs and dailies the scheduler cannot start are told through the project's channels."""

from __future__ import annotations

import datetime as dt

from towpath.project import Project
from towpath.workflows import SchedulerService


def _channels(project, smtp_server) -> None:
    (project.root / "towpath.yaml").write_text(f"""\
name: test
notifications:
  owners: {{data-eng: [oncall@example.com]}}
  channels:
    - {{type: smtp, host: 127.0.0.1, port: {smtp_server.port}, to: [oncall@example.com], events: [failure]}}
    - {{type: file, path: outbox, events: [failure]}}
""")


def test_a_failed_daily_is_mailed_and_written_to_the_outbox(project, sample, smtp_server):
    smtp_server.clear()
    _channels(project, smtp_server)
    (sample.parent / "src" / "sparksql_write.sql").write_text("SELECT nope FROM some_db.source_table")

    result = type(project)(project.root).daily(sample.parent / "daily.sch.yaml", today="2022-01-03")

    assert result.status == "failed"
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "towpath: daily of dataflow_sparksql_sample_daily failed"
    assert "nope" in mail.get_content() and smtp_server.envelopes[0][1] == ["oncall@example.com"]
    [written] = (project.root / "outbox").glob("*.md")
    assert written.name == f"failure-{project.state.list_runs(kind='daily')[0].run_id}.md"


def test_a_scheduled_daily_that_fails_is_a_failure_notice(project, sample, smtp_server):
    smtp_server.clear()
    _channels(project, smtp_server)
    (sample.parent / "src" / "sparksql_write.sql").write_text("SELECT nope FROM some_db.source_table")

    root, now = project.root, dt.datetime(2022, 1, 3, 7, 0, tzinfo=dt.UTC)
    fired = SchedulerService(Project(root), lambda: Project(root), clock=lambda: now).run(once=True)

    assert [o.ok for o in fired] == [False]
    [mail] = smtp_server.wait_for(1)
    assert "unknown column 'nope'" in mail.get_content()
