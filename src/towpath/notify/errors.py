"""Errors of the notify room: a channel is misconfigured or a notice could not be delivered."""

from __future__ import annotations

from towpath.errors import TowpathError


class NotificationError(TowpathError):
    """A notice could not be delivered through a channel (the server refused it, went away, ...)."""

    def __init__(self, channel: str, msg: str) -> None:
        super().__init__(f"notification through {channel} failed: {msg}")
        self.channel = channel
