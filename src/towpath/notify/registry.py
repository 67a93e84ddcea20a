"""`CHANNELS`: notification channels by name; a plugin adds one under `towpath.notify_channels`."""

from __future__ import annotations

from towpath.notify.base import Channel
from towpath.registry import Registry

CHANNELS: Registry[type[Channel]] = Registry("notification channel", group="towpath.notify_channels")
CHANNELS.register("webhook", "towpath.notify.channels.webhook:WebhookChannel")
CHANNELS.register("smtp", "towpath.notify.channels.smtp:SmtpChannel")
CHANNELS.register("file", "towpath.notify.channels.outbox:FileChannel")
CHANNELS.register("log", "towpath.notify.channels.log:LogChannel")
