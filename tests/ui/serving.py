"""A console served by uvicorn in a thread on a free loopback port, for the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from towpath.project import Project


@dataclass
class Console:
    url: str
    project: Project
    token: str


@contextmanager
def serving(project: Project, token: str | None = None) -> Iterator[Console]:
    """The console of `project`, served by uvicorn in a thread on a free loopback port (warmed up, as `towpath ui`)."""
    from towpath.ui import UiConfig
    from towpath.ui.server import server

    instance = server(project, UiConfig(port=0, token=token))
    thread = threading.Thread(target=instance.run, name="ui-server", daemon=True)
    thread.start()
    for _ in range(6000):
        if instance.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    assert instance.started, "the console did not start"
    port = instance.servers[0].sockets[0].getsockname()[1]
    try:
        yield Console(f"http://127.0.0.1:{port}", project, token or "")
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
