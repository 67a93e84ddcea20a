"""`towpath ui`: serve the console with uvicorn until stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from towpath.ui.config import UiConfig, check_config

if TYPE_CHECKING:
    import uvicorn

    from towpath.project import Project


def server(project: Project, config: UiConfig) -> uvicorn.Server:
    """A uvicorn server for the console (not started): `.run()` blocks, tests run it in a thread."""
    import uvicorn

    from towpath.ui.app import create_app

    check_config(config)
    app = create_app(project, config)
    return uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                         access_log=False, lifespan="on"))


def serve(project: Project, config: UiConfig, *, started: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C/SIGTERM; `started(url)` is called once the console is warm and the socket listens."""
    instance = server(project, config)
    if started is not None:
        original = instance.startup

        async def startup(sockets: object = None) -> None:
            await original(sockets)  # type: ignore[arg-type]
            port = instance.servers[0].sockets[0].getsockname()[1] if instance.servers else config.port
            started(f"http://{config.host}:{port}")

        instance.startup = startup  # type: ignore[method-assign]
    instance.run()
