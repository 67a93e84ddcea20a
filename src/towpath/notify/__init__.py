"""Notify room: tell people things through configured channels.

A `Notice` (Markdown body, JSON payload, recipients) goes out through every
channel `towpath.yaml` configures under `notifications.channels` — `smtp`,
`webhook`, `file` (an outbox folder), `log` — each a `Channel` registered in
`CHANNELS` (plugins: entry-point group `towpath.notify_channels`). `owners`
maps team aliases to addresses. Failure notices of daily/backfill runs,
migration notices and stream alerts all use it.
"""

from towpath.notify.base import Channel, ChannelParams, Notice
from towpath.notify.errors import NotificationError
from towpath.notify.notifier import Delivery, Notifier, notify_failure
from towpath.notify.registry import CHANNELS

__all__ = ["CHANNELS", "Channel", "ChannelParams", "Delivery", "Notice", "NotificationError", "Notifier",
           "notify_failure"]
