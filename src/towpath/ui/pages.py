"""One function per page or action: read the request, call one `towpath.ui.<panel>` function, respond.

Each takes `(console, request, form)` (`form`: the urlencoded POST body, empty for a GET)
and runs in Starlette's thread pool; `ROUTES` maps paths to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from towpath.status import Status
from towpath.ui import auth, charts, keyvalue, lineage, runs, streams, svg, tables
from towpath.ui.config import UiInputError

if TYPE_CHECKING:
    from towpath.ui.app import Console

Form = dict[str, str]
Page = Callable[["Console", Request, Form], Response]


def bind(console: Console, page: Page) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form: Form = {}
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", errors="replace")
            form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        return await run_in_threadpool(page, console, request, form)

    return endpoint


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def _done(console: Console, request: Request, data: Any, to: str) -> Response:
    """An action's answer: its result as JSON for a script, a redirect (with a notice) for a browser."""
    from towpath.jsonable import to_jsonable
    from towpath.ui.app import wants_json

    if wants_json(request):
        return JSONResponse(to_jsonable(data))
    return RedirectResponse(to, status_code=303)


# -- runs ---------------------------------------------------------------------------------------

def home(console: Console, request: Request, form: Form) -> Response:
    return RedirectResponse("/runs", status_code=307)


def runs_list(console: Console, request: Request, form: Form) -> Response:
    filters = runs.RunFilter.parse(_query(request))
    data = runs.run_list(console.project, filters, page_size=console.config.page_size)
    keep = {k: v for k, v in _query(request).items() if k != "page" and v}
    return console.respond(request, "runs.html", data.runs if _wants_list(request) else data, listing=data,
                           statuses=[s.value for s in Status], page_link=lambda n: "/runs?" + urlencode(
                               {**keep, "page": n}))


def _wants_list(request: Request) -> bool:
    """`GET /runs` as JSON is `towpath runs list --json` (a list); `?page=`/`envelope=1` adds the paging."""
    return "page" not in request.query_params and request.query_params.get("envelope") != "1"


def run_detail(console: Console, request: Request, form: Form) -> Response:
    run_id = request.path_params["run_id"]
    data = runs.run_page(console.project, run_id)
    unrun = "skipped" if data.run.status.finished else "pending"  # a step after a failure never starts
    status = {step: unrun for step in data.graph} | {j.job_id: j.status.value for j in data.jobs}
    subtitle = dict(status) | {j.job_id: f"{j.status.value}" + (f" · {j.rows_written:,} rows" if j.rows_written else "")
                               for j in data.jobs}
    graph_svg = svg.dag(data.graph, status=status, subtitle=subtitle,
                        links={step: f"/runs/{run_id}/steps/{quote(step)}" for step in data.graph},
                        label=f"step graph of run {run_id}")
    spans = [svg.Span(j.job_id, j.started_at, j.finished_at, j.status.value) for j in data.jobs]
    return console.respond(request, "run.html", data, graph_svg=Markup(graph_svg),
                           timeline_svg=Markup(svg.timeline(spans)))


def step_detail(console: Console, request: Request, form: Form) -> Response:
    data = runs.step_page(console.project, request.path_params["run_id"], request.path_params["step"])
    return console.respond(request, "step.html", data)


def rerun(console: Console, request: Request, form: Form) -> Response:
    auth.require_token(request, console.config)
    started = runs.rerun(console.project, request.path_params["run_id"])
    return _done(console, request, started, "/runs?" + urlencode({"workflow": started.workflow_id,
                                                                  "rerun": started.execution_date}))


def grid(console: Console, request: Request, form: Form) -> Response:
    data = runs.date_grid(console.project, console.descriptions, _query(request))
    return console.respond(request, "grid.html", data)


# -- tables -------------------------------------------------------------------------------------

def tables_list(console: Console, request: Request, form: Form) -> Response:
    return console.respond(request, "tables.html", tables.table_list(console.descriptions))


def table_detail(console: Console, request: Request, form: Form) -> Response:
    name = request.path_params["table"]
    data = tables.table_page(console.project, console.descriptions, name)
    return console.respond(request, "table.html", data, aggregates=charts.AGGREGATES, marks=charts.MARKS)


def preview(console: Console, request: Request, form: Form) -> Response:
    query = _query(request)
    data = tables.preview(console.project, console.gate, request.path_params["table"], ref=query.get("ref") or "main",
                          offset=_int(query, "offset", 0), limit=_int(query, "limit", console.config.page_size))
    return console.respond(request, "preview.html", data)


def chart(console: Console, request: Request, form: Form) -> Response:
    name = request.path_params["table"]
    data = charts.chart(console.project, console.gate, charts.ChartQuery.parse(name, _query(request)))
    desc = console.descriptions.one(name)
    return console.respond(request, "chart.html", data, description=desc, aggregates=charts.AGGREGATES,
                           marks=charts.MARKS)


def dashboards(console: Console, request: Request, form: Form) -> Response:
    saved = console.project.state.charts.of_dashboard()
    names: dict[str, int] = {}
    for c in saved:
        names[c.dashboard] = names.get(c.dashboard, 0) + 1
    return console.respond(request, "dashboards.html", [{"dashboard": n, "charts": k} for n, k in names.items()])


def dashboard(console: Console, request: Request, form: Form) -> Response:
    from towpath.errors import TowpathError

    name = request.path_params["name"]
    drawn = []
    for saved in console.project.state.charts.of_dashboard(name):
        entry: dict[str, Any] = {"chart": saved, "drawn": None, "error": None}
        try:
            entry["drawn"] = charts.chart(console.project, console.gate,
                                          charts.ChartQuery.parse(saved.table, saved.spec)).to_dict()
        except TowpathError as exc:  # a table changed under a saved chart: say so, draw the others
            entry["error"] = str(exc)
        drawn.append(entry)
    return console.respond(request, "dashboard.html", {"dashboard": name, "charts": drawn})


def save_chart(console: Console, request: Request, form: Form) -> Response:
    auth.require_token(request, console.config)
    name = (form.get("dashboard") or "").strip() or request.path_params["name"]
    table = form.get("table") or ""
    query = charts.ChartQuery.parse(table, form)
    charts.build_query(query, console.project.catalog.table(table).schema().as_arrow())  # refuse what cannot draw
    title = (form.get("title") or "").strip() or f"{query.y_title()} by {query.x} of {table}"
    saved = console.project.state.charts.save(dashboard=name, title=title, table=table, spec=query.params())
    return _done(console, request, saved, f"/dashboards/{quote(name)}")


def delete_chart(console: Console, request: Request, form: Form) -> Response:
    auth.require_token(request, console.config)
    name, chart_id = request.path_params["name"], request.path_params["chart_id"]
    deleted = console.project.state.charts.delete(chart_id)
    return _done(console, request, {"chart_id": chart_id, "deleted": deleted}, f"/dashboards/{quote(name)}")


# -- lineage, migrations --------------------------------------------------------------------------

def lineage_graph(console: Console, request: Request, form: Form) -> Response:
    node = request.query_params.get("node") or None
    data = lineage.lineage_page(console.project, console.descriptions, node)
    subtitle = {n: (data.owners.get(n) or "no owner") for n in data.graph}
    graph_svg = svg.dag(data.graph, status={}, subtitle=subtitle, label="lineage graph",
                        links={n: "/lineage?" + urlencode({"node": n}) for n in data.graph})
    return console.respond(request, "lineage.html", data, graph_svg=Markup(graph_svg))


def migrations_list(console: Console, request: Request, form: Form) -> Response:
    return console.respond(request, "migrations.html", lineage.migrations_page(console.project))


def migration_detail(console: Console, request: Request, form: Form) -> Response:
    return console.respond(request, "migration.html",
                           lineage.migration_page(console.project, request.path_params["migration_id"]))


# -- key-value, streams -------------------------------------------------------------------------

def kv(console: Console, request: Request, form: Form) -> Response:
    return console.respond(request, "kv.html", keyvalue.kv_page(console.project))


def kv_lookup(console: Console, request: Request, form: Form) -> Response:
    alias = request.path_params["alias"]
    data = keyvalue.lookup(console.project, alias, request.query_params.get("key") or "")
    return console.respond(request, "lookup.html", data)


def kv_rollback(console: Console, request: Request, form: Form) -> Response:
    auth.require_token(request, console.config)
    to = form.get("to") or None
    if to is not None and not to.isdigit():
        raise UiInputError(f"to: expected a version number, got {to!r}")
    data = keyvalue.rollback(console.project, request.path_params["alias"], int(to) if to else None)
    return _done(console, request, data, "/kv")


def streams_view(console: Console, request: Request, form: Form) -> Response:
    data = streams.streams_page(console.project)
    sparks = {s.name: Markup(svg.sparkline(s.rates, label=f"rows/s of {s.name}")) for s in data.streams}
    return console.respond(request, "streams.html", data, sparks=sparks)


# -- auth ---------------------------------------------------------------------------------------

def login_form(console: Console, request: Request, form: Form) -> Response:
    return console.respond(request, "login.html", {"next": request.query_params.get("next", "/runs")})


def login(console: Console, request: Request, form: Form) -> Response:
    from towpath.kv.service import token_matches
    from towpath.ui.config import UiAuthError

    token = form.get("token", "")
    if console.config.token is None:
        raise UiAuthError("this console is read-only: start it with TOWPATH_UI_TOKEN set to allow actions")
    if not token_matches(token, console.config.token):
        raise UiAuthError("wrong token")
    target = form.get("next") or "/runs"
    response = RedirectResponse(target if target.startswith("/") and not target.startswith("//") else "/runs",
                                status_code=303)
    response.set_cookie(auth.COOKIE, token, httponly=True, samesite="strict")
    return response


def logout(console: Console, request: Request, form: Form) -> Response:
    response = RedirectResponse("/runs", status_code=303)
    response.delete_cookie(auth.COOKIE)
    return response


def healthz(console: Console, request: Request, form: Form) -> Response:
    return JSONResponse({"ok": True, "project": console.project.config.name})


def _int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise UiInputError(f"{name}: expected a whole number, got {raw!r}") from None


ROUTES: list[tuple[str, Page, list[str]]] = [
    ("/", home, ["GET"]),
    ("/healthz", healthz, ["GET"]),
    ("/runs", runs_list, ["GET"]),
    ("/runs/{run_id}", run_detail, ["GET"]),
    ("/runs/{run_id}/steps/{step:path}", step_detail, ["GET"]),
    ("/runs/{run_id}/rerun", rerun, ["POST"]),
    ("/grid", grid, ["GET"]),
    ("/tables", tables_list, ["GET"]),
    ("/tables/{table}", table_detail, ["GET"]),
    ("/tables/{table}/preview", preview, ["GET"]),
    ("/tables/{table}/chart", chart, ["GET"]),
    ("/dashboards", dashboards, ["GET"]),
    ("/dashboards/{name}", dashboard, ["GET"]),
    ("/dashboards/{name}/charts", save_chart, ["POST"]),
    ("/dashboards/{name}/charts/{chart_id}/delete", delete_chart, ["POST"]),
    ("/lineage", lineage_graph, ["GET"]),
    ("/migrations", migrations_list, ["GET"]),
    ("/migrations/{migration_id}", migration_detail, ["GET"]),
    ("/kv", kv, ["GET"]),
    ("/kv/{alias}/lookup", kv_lookup, ["GET"]),
    ("/kv/{alias}/rollback", kv_rollback, ["POST"]),
    ("/streams", streams_view, ["GET"]),
    ("/login", login_form, ["GET"]),
    ("/login", login, ["POST"]),
    ("/logout", logout, ["POST"]),
]
