"""File channel: each notice becomes `<key>.md` (and `<key>.json`) in an outbox folder.

The outbox is the record of what was said: a reviewer reads the Markdown, a
script the JSON, and a notice already in the folder is never written again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from towpath.notify.base import Channel, ChannelParams, Notice
from towpath.notify.errors import NotificationError


class FileParams(ChannelParams):
    type: Literal["file"] = "file"
    path: str = ".towpath/outbox"
    """Folder (project-relative) the notices are written to."""


class FileChannel(Channel):
    PARAMS = FileParams

    @property
    def folder(self) -> Path:
        assert isinstance(self.params, FileParams)
        path = Path(self.params.path)
        return path if path.is_absolute() else self.root / path

    @property
    def name(self) -> str:
        return f"file:{self.folder}"

    def send(self, notice: Notice) -> None:
        try:
            write_notice(self.folder, notice)
        except OSError as exc:
            raise NotificationError(self.name, str(exc)) from None


def write_notice(folder: Path, notice: Notice) -> Path:
    """Write `notice` as `<key>.md` + `<key>.json` in `folder` atomically; returns the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    to = ", ".join(notice.recipients) or "(no addresses)"
    markdown = f"To: {to}\nSubject: {notice.subject}\n\n{notice.body.rstrip()}\n"
    target = folder / f"{notice.key}.md"
    for path, text in ((target, markdown), (folder / f"{notice.key}.json", json.dumps(notice.to_json(), indent=2))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return target
