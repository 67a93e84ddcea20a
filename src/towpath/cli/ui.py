"""`towpath ui`: the project's web console (runs, audits, tables and charts, lineage, key-value, streams)."""

from __future__ import annotations

import time

import click

from towpath.cli.options import project_from


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (beyond loopback needs a token).")
@click.option("--port", default=8480, show_default=True, help="TCP port (0: any free port).")
@click.option("--token", envvar="TOWPATH_UI_TOKEN",
              help="Token that allows actions: rerun a date, roll a KV alias back, save charts "
                   "(env TOWPATH_UI_TOKEN). Without it the console is read-only.")
@click.pass_context
def cli(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the project's web console until Ctrl-C.

    Every page is also JSON: send `Accept: application/json` and get what the
    matching CLI command's `--json` prints.

    \b
    Examples:
      towpath ui                                  # http://127.0.0.1:8480, read-only
      TOWPATH_UI_TOKEN=s3cret towpath ui --port 9000
      curl -H 'Accept: application/json' 127.0.0.1:8480/runs?status=audit_failed
    """
    from towpath.cli import render

    try:
        from towpath.ui import UiConfig, serve
    except ImportError as exc:  # starlette, uvicorn or jinja2 missing: name the extra, not a traceback
        from towpath.errors import NotInstalledError

        raise NotInstalledError("command", "towpath ui", extra="ui", missing=exc.name) from None

    project = project_from(ctx)
    config = UiConfig(host=host, port=port, token=token)
    began = time.perf_counter()
    render.console.print(f"starting the console of {project.config.name}: warming its pages up before it listens")
    serve(project, config, started=lambda url: render.success(
        f"console of {project.config.name} at {url} ({'actions need the token' if token else 'read-only'}; "
        f"ready in {time.perf_counter() - began:.1f}s); Ctrl-C stops"))
