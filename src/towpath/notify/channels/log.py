"""Log channel: the notice's subject at WARNING on the `towpath.notifications` logger."""

from __future__ import annotations

import logging
from typing import Literal

from towpath.notify.base import Channel, ChannelParams, Notice

log = logging.getLogger("towpath.notifications")


class LogParams(ChannelParams):
    type: Literal["log"] = "log"


class LogChannel(Channel):
    PARAMS = LogParams

    def send(self, notice: Notice) -> None:
        log.warning("%s: %s", notice.kind, notice.subject)
