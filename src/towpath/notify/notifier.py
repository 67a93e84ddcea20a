"""`Notifier`: the project's channels and owner aliases, built from `towpath.yaml`.

Every room that tells someone something goes through here: the daily and backfill
runs' failure notices, migrations' owner notices, stream alerts. A channel that
fails never hides the notice's other deliveries, and never the failure a notice
reports: `send` returns one `Delivery` per channel and raises nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from towpath.config import ProjectConfig, dotted, parse_spec
from towpath.config.project import PROJECT_FILE
from towpath.errors import SpecError, SpecErrors
from towpath.notify.base import Channel, Notice
from towpath.notify.errors import NotificationError
from towpath.notify.registry import CHANNELS

log = logging.getLogger("towpath.notifications")


@dataclass(frozen=True)
class Delivery:
    """What happened to one notice on one channel."""

    channel: str
    ok: bool
    error: str | None = None


class Notifier:
    """Channels to deliver through, and `owners`: team alias -> addresses."""

    def __init__(self, channels: Sequence[Channel], owners: Mapping[str, Sequence[str]] | None = None) -> None:
        self.channels = list(channels)
        self.owners = {name: list(addresses) for name, addresses in (owners or {}).items()}

    @classmethod
    def for_project(cls, root: Path, config: ProjectConfig, *, webhook: str | None = None) -> Notifier:
        """The channels `notifications:` of `root/towpath.yaml` configures.

        `notifications.webhook` (and a daily's own `webhook`, passed as `webhook`,
        which replaces it) is a webhook channel for failure notices.

        Raises:
            SpecError: a channel's type is unknown or its params are wrong, at its file:line:column.
        """
        from towpath.config import load_yaml
        from towpath.notify.channels.webhook import WebhookChannel, WebhookParams

        settings = config.notifications
        channels: list[Channel] = []
        url = webhook or settings.webhook
        if url:
            channels.append(WebhookChannel(WebhookParams(url=url, events=["failure"]), root))
        if settings.channels:
            doc = load_yaml(root / PROJECT_FILE)
            errors: list[SpecError] = []
            for index, raw in enumerate(settings.channels):
                loc: tuple[int | str, ...] = ("notifications", "channels", index)
                try:
                    channels.append(_channel(doc, raw, loc, root))
                except SpecErrors as exc:
                    errors.extend(exc.errors)
                except SpecError as exc:
                    errors.append(exc)
            if errors:
                raise errors[0] if len(errors) == 1 else SpecErrors(errors)
        return cls(channels, settings.owners)

    def addresses(self, owner: str) -> tuple[str, ...]:
        """The addresses of `owner`: an alias's list, or the owner itself when it is an address."""
        if owner in self.owners:
            return tuple(self.owners[owner])
        return (owner,) if "@" in owner else ()

    def recipients(self, owners: Iterable[str]) -> tuple[str, ...]:
        """Every address of `owners`, once each, in order."""
        return tuple(dict.fromkeys(address for owner in owners for address in self.addresses(owner)))

    def send(self, notice: Notice) -> list[Delivery]:
        """Deliver `notice` on every channel that accepts its kind; one `Delivery` per channel."""
        deliveries = []
        for channel in self.channels:
            if not channel.accepts(notice):
                continue
            try:
                channel.send(notice)
            except NotificationError as exc:
                log.warning("%s", exc)
                deliveries.append(Delivery(channel.name, ok=False, error=str(exc)))
            else:
                deliveries.append(Delivery(channel.name, ok=True))
        return deliveries


def _channel(doc: Any, raw: Mapping[str, Any], loc: tuple[int | str, ...], root: Path) -> Channel:
    """One `channels:` entry validated as its type's params model (errors at its file:line:column)."""
    from towpath.errors import UnknownNameError

    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str):
        line, col = doc.locate(loc)
        raise SpecError(f"expected a channel with a 'type' (one of: {', '.join(CHANNELS.names())})",
                        file=doc.path, line=line, col=col, field=dotted(loc))
    try:
        channel_type = CHANNELS.get(kind)
    except UnknownNameError as exc:
        line, col = doc.locate((*loc, "type"))
        raise SpecError(str(exc), file=doc.path, line=line, col=col,
                        field=dotted((*loc, "type"))) from None
    params = parse_spec(channel_type.PARAMS, doc, dict(raw), base_loc=loc)
    return channel_type(params, root)


def notify_failure(notifier: Notifier, payload: dict[str, Any]) -> str | None:
    """Log a failed daily/backfill run and send it as a `failure` notice; returns the delivery errors, if any.

    A notification that cannot be delivered never hides the failure it reports.
    """
    log.error("workflow %s failed: %s", payload.get("workflow_id"), payload.get("error"))
    error = str(payload.get("error") or "")
    notice = Notice(
        kind="failure",
        subject=f"towpath: {payload.get('kind', 'run')} of {payload.get('workflow_id')} failed",
        body=f"**{payload.get('workflow_id')}** failed (run `{payload.get('run_id')}`):\n\n```\n{error}\n```\n",
        data=payload,
        key=f"failure-{payload.get('run_id')}",
    )
    failed = [d.error for d in notifier.send(notice) if not d.ok and d.error]
    return "\n".join(failed) or None
