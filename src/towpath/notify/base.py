"""What a notice is and what a channel does with it.

A `Notice` is written once (Markdown body, JSON payload, recipients) and every
configured channel delivers it its own way: an SMTP mail, a webhook POST, a file
in an outbox, a log line. Channels are registered by name in `CHANNELS`
(`towpath.notify.registry`), each with a params model validated against
`towpath.yaml` at file:line:column, so a new channel is one module plus one
registration.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from towpath.config import Spec


@dataclass(frozen=True)
class Notice:
    """One message to deliver.

    `kind` says what it is about (`failure`, `migration`, `alert`, ...): a channel
    configured with `events:` only receives those kinds. `key` identifies the notice
    across sends (the outbox file name, the `Message-ID`), so a caller that records
    it can refuse to send the same notice twice.
    """

    kind: str
    subject: str
    body: str
    """Markdown."""
    recipients: tuple[str, ...] = ()
    """Addresses (mail channels); channels without addressing ignore them."""
    data: dict[str, Any] = field(default_factory=dict)
    """The machine-readable payload (what a webhook POSTs)."""
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            digest = hashlib.sha256(json.dumps([self.kind, self.subject, self.body, list(self.recipients)],
                                               sort_keys=True).encode()).hexdigest()[:16]
            object.__setattr__(self, "key", f"{self.kind}-{digest}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "subject": self.subject, "recipients": list(self.recipients),
                "body": self.body, "data": self.data}


class ChannelParams(Spec):
    """Every channel's params share `events`: the notice kinds it receives (empty: all)."""

    type: str
    events: list[str] = Field(default_factory=list)


class Channel(ABC):
    """Delivers notices one way; `send` raises `NotificationError` when it cannot.

    Subclasses set `PARAMS` (their params model, a `ChannelParams`) and take the
    validated params and the project root (to resolve relative paths).
    """

    PARAMS: ClassVar[type[ChannelParams]] = ChannelParams

    def __init__(self, params: ChannelParams, root: Path) -> None:
        self.params = params
        self.root = root

    @property
    def name(self) -> str:
        """How deliveries and errors name this channel (`smtp:mail.example.com:25`)."""
        return self.params.type

    def accepts(self, notice: Notice) -> bool:
        return not self.params.events or notice.kind in self.params.events

    @abstractmethod
    def send(self, notice: Notice) -> None:
        """Deliver `notice`, or raise `NotificationError`."""
