"""Alerts: a SQL predicate over each committed window; matching rows notify someone, and the firing is recorded.

Evaluation (which rows match, a sample of them) and delivery (where the
notification goes) are separate steps, so a delivery channel registry can
replace `deliver` without touching evaluation. A delivery failure never stops
the stream: it is recorded with the firing.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from towpath.errors import SpecError
from towpath.streaming.spec import AlertRule

log = logging.getLogger("towpath.stream.alerts")
WEBHOOK_TIMEOUT_S = 10


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
            sample = con.execute(sample_sql.sql("duckdb")).to_arrow_table().to_pylist() if rule.sample else []
            matches.append(Match(rule, int(matched), sample))
    finally:
        con.unregister("window_rows")
    return matches


def payload(stream: str, match: Match, offsets: Mapping[str, list[int]]) -> dict[str, Any]:
    return {
        "stream": stream, "alert": match.rule.name, "when": match.rule.when, "matched": match.matched,
        "offsets": dict(offsets), "sample": match.sample,
    }


def deliver(notify: str, message: Mapping[str, Any]) -> str | None:
    """Send one notification; returns the delivery error (None: delivered)."""
    if notify == "log":
        log.warning("alert %s on stream %s: %d row(s) matched %s", message["alert"], message["stream"],
                    message["matched"], message["when"])
        return None
    if notify.startswith(("http://", "https://")):
        body = json.dumps(message, default=str).encode()
        request = urllib.request.Request(notify, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                response.read()
        except OSError as exc:
            return f"webhook {notify}: {exc}"
        return None
    return f"unknown notification target '{notify}' (expected `log` or an http(s) URL)"
