"""The `towpath` command: a lazy Click group so `towpath --help` stays fast.

Each command group lives in its own module and is imported only when used;
`COMMAND_GROUPS` is the registry (name -> module, one-line help).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from towpath import __version__

COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "project": ("towpath.cli.project", "Create, validate and unit-test a towpath project."),
    "sample": ("towpath.cli.sample", "Generate fully functional sample workflows from recipes."),
    "mock": ("towpath.cli.mock", "Generate or validate YAML mock datasets for unit tests."),
    "workflow": ("towpath.cli.workflow", "Run workflows: one date, daily with lookback, or a backfill."),
    "table": ("towpath.cli.table", "Inspect Iceberg tables: schema, metadata, history, high-water marks."),
    "runs": ("towpath.cli.runs", "Show recorded workflow runs, job runs and audit results."),
    "schedule": ("towpath.cli.schedule", "Run the local scheduler that fires daily workflows."),
    "pipeline": ("towpath.cli.pipeline", "Run a concurrent ETL pipeline (processors in stages)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, not at startup."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_GROUPS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMAND_GROUPS:
            return None
        module = importlib.import_module(COMMAND_GROUPS[name][0])
        command: click.Command = module.cli
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMAND_GROUPS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="towpath")
@click.option("-v", "--verbose", is_flag=True, help="Log what towpath does, step by step.")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option(
    "-C", "--project", "project_dir", default=".", show_default=True,
    type=click.Path(file_okay=False), help="Project folder (or any folder below it).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, debug: bool, project_dir: str) -> None:
    """towpath: scaffold, test, run, audit and publish data pipelines on Iceberg.

    Start with `towpath project init`, then `towpath workflow run main.sch.yaml`.
    """
    ctx.obj = {"verbose": verbose, "debug": debug, "project_dir": project_dir}
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: `TowpathError`s print as one line and exit 1."""
    from towpath.errors import TowpathError

    debug = "--debug" in (argv if argv is not None else sys.argv)
    try:
        return cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except TowpathError as exc:
        if debug:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
