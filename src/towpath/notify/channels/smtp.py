"""SMTP channel: one mail per notice to its recipients (plain text Markdown), STARTTLS/SSL/login optional."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal

from pydantic import Field

from towpath.notify.base import Channel, ChannelParams, Notice
from towpath.notify.errors import NotificationError


class SmtpParams(ChannelParams):
    type: Literal["smtp"] = "smtp"
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "towpath@localhost"
    """The `From:` address."""
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: str | None = None
    """Use `${SMTP_PASSWORD}`-style substitution rather than the secret itself."""
    to: list[str] = Field(default_factory=list)
    """Extra recipients of every notice (e.g. a team list); notices add their own."""
    timeout: float = Field(default=10.0, gt=0)


class SmtpChannel(Channel):
    PARAMS = SmtpParams

    @property
    def name(self) -> str:
        assert isinstance(self.params, SmtpParams)
        return f"smtp:{self.params.host}:{self.params.port}"

    def send(self, notice: Notice) -> None:
        params = self.params
        assert isinstance(params, SmtpParams)
        recipients = list(dict.fromkeys([*notice.recipients, *params.to]))
        if not recipients:
            return  # a mail channel has no one to tell; other channels still carry the notice
        message = EmailMessage()
        message["From"] = params.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = notice.subject
        message["Message-ID"] = make_msgid(idstring=notice.key, domain="towpath")
        message["X-Towpath-Notice"] = notice.key
        message.set_content(notice.body)
        client: type[smtplib.SMTP] = smtplib.SMTP_SSL if params.security == "ssl" else smtplib.SMTP
        try:
            with client(params.host, params.port, timeout=params.timeout) as smtp:
                if params.security == "starttls":
                    smtp.starttls()
                if params.username:
                    smtp.login(params.username, params.password or "")
                smtp.send_message(message, from_addr=params.sender, to_addrs=recipients)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise NotificationError(self.name, str(exc) or type(exc).__name__) from None
