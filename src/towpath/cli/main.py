"""The `towpath` command: a lazy Click group so `towpath --help` stays fast.

Each command group lives in its own module and is imported only when used;
`COMMAND_GROUPS` is the registry of `CommandGroup`s (the command's import path
and its one-line help, so `--help` imports no command module). A package adds
a group by registering a `CommandGroup` under the entry-point group `towpath.cli`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from towpath import __version__
from towpath.registry import Registry, import_object


@dataclass(frozen=True)
class CommandGroup:
    """One `towpath <name>` group: where its Click command is, and its line in `towpath --help`."""

    command: str
    """`module:attribute` of the Click command, imported when the group is used."""
    help: str
    """One line for `towpath --help`."""

    def load(self) -> click.Command:
        command: click.Command = import_object(self.command, what="command group")
        return command


COMMAND_GROUPS: Registry[CommandGroup] = Registry("command", group="towpath.cli")
"""Every `towpath` command group by name."""
for _name, _group in {
    "project": CommandGroup("towpath.cli.project:cli", "Create, validate and unit-test a towpath project."),
    "sample": CommandGroup("towpath.cli.sample:cli", "Generate fully functional sample workflows from recipes."),
    "mock": CommandGroup("towpath.cli.mock:cli", "Generate or validate YAML mock datasets for unit tests."),
    "workflow": CommandGroup("towpath.cli.workflow:cli", "Run workflows: one date, daily with lookback, or a backfill."),
    "table": CommandGroup(
        "towpath.cli.table:cli", "Inspect Iceberg tables: schema, metadata, history, high-water marks."
    ),
    "runs": CommandGroup("towpath.cli.runs:cli", "Show recorded workflow runs, job runs and audit results."),
    "schedule": CommandGroup("towpath.cli.schedule:cli", "Run the local scheduler that fires daily workflows."),
    "pipeline": CommandGroup("towpath.cli.pipeline:cli", "Run a concurrent ETL pipeline (processors in stages)."),
}.items():
    COMMAND_GROUPS.register(_name, _group)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, not at startup."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return COMMAND_GROUPS.names()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMAND_GROUPS:
            return None
        return COMMAND_GROUPS.get(name).load()

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, group.help) for name, group in COMMAND_GROUPS.items()]
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
