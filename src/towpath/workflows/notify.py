"""Failure notifications: always the run log, and a webhook when the project configures one."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("towpath.notifications")


def notify_failure(webhook: str | None, payload: dict[str, Any]) -> str | None:
    """Log the failure and POST it as JSON to `webhook`; returns a delivery error, if any.

    A notification that cannot be delivered never hides the failure it reports.
    """
    log.error("workflow %s failed: %s", payload.get("workflow_id"), payload.get("error"))
    if not webhook:
        return None
    import httpx

    try:
        response = httpx.post(webhook, json=payload, timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("could not deliver the failure notification to %s: %s", webhook, exc)
        return f"notification to {webhook} failed: {exc}"
    return None
