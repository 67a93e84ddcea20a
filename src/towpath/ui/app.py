"""The console's Starlette application: routing, content negotiation (HTML or JSON), auth and errors.

`create_app(project, config)` is what `towpath ui` serves and what tests and the
benchmark drive. Endpoints are plain functions (run in Starlette's thread pool), each
computing one data object from `towpath.ui.<panel>` and handing it to `respond`,
which renders a template or, for `Accept: application/json`, prints the object with
`towpath.jsonable.to_jsonable` (the conversion `--json` uses). Every answer carries
`Server-Timing: app;dur=<ms>`, the server time the benchmark reads. The app's lifespan startup
runs `towpath.ui.warmup.warm_up` (unless `UiConfig.warm_up` is off), which uvicorn awaits before it
binds the port.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from towpath.errors import TowpathError
from towpath.jsonable import to_jsonable
from towpath.ui import auth
from towpath.ui.config import UiConfig, UiError

if TYPE_CHECKING:
    from towpath.project import Project


class Console:
    """What every endpoint shares: the project, the config, the engine gate and the templates."""

    def __init__(self, project: Project, config: UiConfig) -> None:
        from towpath.ui.tables import Descriptions, EngineGate

        self.project, self.config = project, config
        self.gate = EngineGate(project)
        self.descriptions = Descriptions(project)
        self.templates = Environment(loader=PackageLoader("towpath.ui", "templates"),
                                     autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.templates.filters.update(status=_status_badge, number=_number, when=_when, size=_size)

    def respond(self, request: Request, template: str, data: Any, *, status: int = 200, **extra: Any) -> Response:
        """`data` as JSON when the client asks for it, else `template` rendered with `data` and `extra`."""
        if wants_json(request):
            return JSONResponse(to_jsonable(data), status_code=status)
        html = self.templates.get_template(template).render(
            data=data, request=request, can_act=auth.can_act(request, self.config),
            actions_enabled=self.config.token is not None, project=self.project.config.name, **extra)
        return HTMLResponse(html, status_code=status)


def wants_json(request: Request) -> bool:
    """`Accept: application/json` (before any text/html), `?format=json`, or a script's bearer token
    (a browser signs in with a cookie, never an Authorization header)."""
    if request.query_params.get("format") == "json" or "authorization" in request.headers:
        return True
    accept = request.headers.get("accept", "")
    json_at, html_at = accept.find("application/json"), accept.find("text/html")
    return json_at != -1 and (html_at == -1 or json_at < html_at)


class ServerTiming(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


def create_app(project: Project, config: UiConfig | None = None) -> Starlette:
    """The console of `project` as an ASGI app (serve it with uvicorn, or `towpath.ui.serve`)."""
    from importlib.resources import files

    from towpath.ui import pages

    console = Console(project, config or UiConfig())
    routes: list[BaseRoute] = [Route(path, pages.bind(console, endpoint), methods=methods)
                               for path, endpoint, methods in pages.ROUTES]
    routes.append(Mount("/static", app=StaticFiles(directory=str(files("towpath.ui") / "static")), name="static"))

    async def error(request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, UiError) else 400 if isinstance(exc, TowpathError) else 500
        message = str(exc) if isinstance(exc, TowpathError) else f"internal error: {type(exc).__name__}: {exc}"
        if wants_json(request):
            return JSONResponse({"error": message, "type": type(exc).__name__}, status_code=status)
        return console.respond(request, "error.html", {"error": message, "status": status}, status=status)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if console.config.warm_up:
            from starlette.concurrency import run_in_threadpool

            from towpath.ui.warmup import warm_up

            app.state.warm_up = await run_in_threadpool(warm_up, console)
        yield

    app = Starlette(routes=routes, middleware=[Middleware(ServerTiming)],
                    exception_handlers={TowpathError: error, Exception: error}, lifespan=lifespan)
    app.state.console = console
    app.state.warm_up = None
    return app


def _status_badge(value: Any) -> Markup:
    text = str(getattr(value, "value", value) or "-")
    return Markup('<span class="badge s-{0}">{1}</span>').format(text, text.replace("_", " "))


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.2f}" if isinstance(
        value, float) else str(value)


def _when(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value or "-")
    return text[:19].replace("T", " ")


def _size(value: Any) -> str:
    size = float(value or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"
