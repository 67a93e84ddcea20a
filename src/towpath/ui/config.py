"""How the console is served, and the errors it raises on purpose."""

from __future__ import annotations

from dataclasses import dataclass

from towpath.errors import TowpathError

DEFAULT_PORT = 8480


class UiError(TowpathError):
    """Something the console refuses; `status` is the HTTP status a page answers with."""

    status = 400


class UiInputError(UiError):
    """A query parameter or form field is malformed (a bad date, an unknown column, a filter that is not SQL)."""


class UiNotFoundError(UiError):
    status = 404


class UiAuthError(UiError):
    """An action without the console's token, or a console that would serve the network without one."""

    status = 401


@dataclass(frozen=True)
class UiConfig:
    host: str = "127.0.0.1"
    """Address to bind; anything beyond loopback needs `token`."""
    port: int = DEFAULT_PORT
    """TCP port (0: any free port)."""
    token: str | None = None
    """The action token (`TOWPATH_UI_TOKEN`): without it the console is read-only."""
    page_size: int = 50
    """Rows per page of the runs list and the data preview."""
    warm_up: bool = True
    """Render every local page once at startup, before the port opens (`towpath.ui.warmup`)."""


def check_config(config: UiConfig) -> None:
    """Refuse to serve beyond loopback without a token (the rule `towpath kv serve` keeps)."""
    from towpath.kv.service import is_loopback

    if config.token is None and not is_loopback(config.host):
        raise UiAuthError(
            f"refusing to serve the console on {config.host} without a token: set TOWPATH_UI_TOKEN (or --token); "
            "only a loopback host (127.0.0.1) may serve without one"
        )
