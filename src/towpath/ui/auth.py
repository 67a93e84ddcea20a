"""Who may act: reading is open, actions need the console's token.

A script sends `Authorization: Bearer <token>` (as it would to `towpath kv serve`);
a browser signs in once through `/login`, which stores the token in an
HttpOnly, SameSite=Strict cookie, so a page on another site cannot make the
browser act. The comparison is `towpath.kv.service.token_matches` (constant time).
"""

from __future__ import annotations

from starlette.requests import Request

from towpath.ui.config import UiAuthError, UiConfig

COOKIE = "towpath_ui_token"


def presented(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get(COOKIE)


def can_act(request: Request, config: UiConfig) -> bool:
    from towpath.kv.service import token_matches

    return config.token is not None and token_matches(presented(request), config.token)


def require_token(request: Request, config: UiConfig) -> None:
    """Raise `UiAuthError` unless the request carries the console's token."""
    if config.token is None:
        raise UiAuthError("this console is read-only: start it with TOWPATH_UI_TOKEN set to allow actions")
    if not can_act(request, config):
        raise UiAuthError("this action needs the console's token: sign in at /login "
                          "(or send Authorization: Bearer <token>)")
