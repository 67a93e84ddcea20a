"""Alerts: a SQL predicate over each committed window; matching rows notify someone, and the firing is recorded.

Evaluation (which rows match, a sample of them) is DuckDB over the window;
delivery is the notify room's: an `alert` notice through a log channel, a
webhook channel, or every channel of the project's `notifications:`. A delivery
failure never stops the stream: it is recorded with the firing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from towpath.errors import SpecError
from towpath.notify import Notice, Notifier
from towpath.streaming.spec import AlertRule

WEBHOOK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Match:
    rule: AlertRule
    matched: int
    sample: list[dict[str, Any]]


def check_predicates(rules: Sequence[AlertRule]) -> None:
    """Parse every `when` once at start, so a typo fails before the first window, not at it."""
    for number, rule in enumerate(rules):
        try:
            sqlglot.parse_one(rule.when, read="spark")
        except sqlglot.errors.ParseError as exc:
            raise SpecError(f"not a SQL predicate: {exc.errors[0]['description'] if exc.errors else exc}",
                            field=f"alerts[{number}].when") from None


def evaluate(con: Any, rules: Sequence[AlertRule], window: pa.Table) -> list[Match]:
    """The rules whose predicate matches rows of `window` (registered in DuckDB connection `con` as `window`)."""
    con.register("window_rows", window)
    matches = []
    try:
        for rule in rules:
            predicate = sqlglot.parse_one(rule.when, read="spark")
            count_sql = exp.select(exp.func("count", exp.Star())).from_("window_rows").where(predicate)
            (matched,) = con.execute(count_sql.sql("duckdb")).fetchone()
            if not matched:
                continue
            sample_sql = exp.select("*").from_("window_rows").where(predicate).limit(rule.sample)
            rows = con.execute(sample_sql.sql("duckdb")).to_arrow_table().to_pylist() if rule.sample else []
            sample = json.loads(json.dumps(rows, default=str))  # timestamps, decimals as text: any channel sends it
            matches.append(Match(rule, int(matched), sample))
    finally:
        con.unregister("window_rows")
    return matches


def payload(stream: str, match: Match, offsets: Mapping[str, list[int]]) -> dict[str, Any]:
    return {
        "stream": stream, "alert": match.rule.name, "when": match.rule.when, "matched": match.matched,
        "offsets": dict(offsets), "sample": match.sample,
    }


def notice(message: Mapping[str, Any]) -> Notice:
    """The `alert` notice of one firing (Markdown for people, the payload for webhooks)."""
    sample = "".join(f"\n- `{json.dumps(row, default=str)}`" for row in message["sample"])
    offsets = ", ".join(f"{key} [{lo}, {hi})" for key, (lo, hi) in sorted(message["offsets"].items()))
    return Notice(
        kind="alert",
        subject=f"towpath: alert {message['alert']} on stream {message['stream']}: {message['matched']} row(s)",
        body=f"**{message['matched']}** row(s) of stream `{message['stream']}` matched `{message['when']}` "
             f"(offsets {offsets}).{sample}",
        data=dict(message),
    )


def channels(notify: str, project: Notifier | None) -> Notifier:
    """Where a rule's `notify` sends: `log`, a webhook URL, or `project` (the channels of towpath.yaml)."""
    from towpath.notify.channels.log import LogChannel, LogParams
    from towpath.notify.channels.webhook import WebhookChannel, WebhookParams

    if notify == "log":
        return Notifier([LogChannel(LogParams(), Path("."))])
    if notify.startswith(("http://", "https://")):
        return Notifier([WebhookChannel(WebhookParams(url=notify, timeout=WEBHOOK_TIMEOUT_S), Path("."))])
    if notify == "project" and project is not None:
        return project
    raise SpecError(f"expected `log`, `project` or an http(s) URL, got '{notify}'", field="alerts.notify")


def deliver(notifier: Notifier, message: Mapping[str, Any]) -> str | None:
    """Send one firing; returns the delivery errors (None: delivered everywhere)."""
    failed = [d.error for d in notifier.send(notice(message)) if not d.ok and d.error]
    return "\n".join(failed) or None
