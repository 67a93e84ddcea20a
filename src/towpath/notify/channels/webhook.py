"""Webhook channel: POST the notice as JSON (Slack/Teams-compatible `text` plus the payload)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from towpath.notify.base import Channel, ChannelParams, Notice
from towpath.notify.errors import NotificationError


class WebhookParams(ChannelParams):
    type: Literal["webhook"] = "webhook"
    url: str
    """Receives a JSON POST: `event` (the notice kind), `subject`, `text` (the Markdown body, as Slack and
    Teams incoming webhooks read it), `notice_key`, then the notice's own payload fields."""
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)


class WebhookChannel(Channel):
    PARAMS = WebhookParams

    @property
    def name(self) -> str:
        assert isinstance(self.params, WebhookParams)
        return f"webhook:{self.params.url}"

    def send(self, notice: Notice) -> None:
        import httpx

        assert isinstance(self.params, WebhookParams)
        payload = {"event": notice.kind, "subject": notice.subject, "text": notice.body, "notice_key": notice.key,
                   **notice.data}
        try:
            response = httpx.post(self.params.url, json=payload, headers=self.params.headers,
                                  timeout=self.params.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise NotificationError(self.name, str(exc) or type(exc).__name__) from None
