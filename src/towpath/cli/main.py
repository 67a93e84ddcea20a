"""The `towpath` command: a lazy Click group so `towpath --help` stays fast.

Each command group lives in its own module and is imported only when used;
`COMMAND_GROUPS` is the registry of `CommandGroup`s (the command's import path
and its one-line help, so `--help` imports no command module). A package adds
a group by registering a `CommandGroup` under the entry-point group `towpath.cli`
(from a light module: `towpath --help` imports it to read the help line).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from towpath import __version__
from towpath.cli.guard import EPILOG, report, wants_json
from towpath.registry import Registry, import_object

if TYPE_CHECKING:
    from towpath.cli.options import CliState


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
    "stream": CommandGroup("towpath.cli.stream:cli", "Stream Kafka topics into Iceberg tables, exactly-once."),
    "worker": CommandGroup("towpath.cli.worker:cli", "Keep a warm process per project so commands start fast."),
    "query": CommandGroup("towpath.cli.query:cli", "Run one SQL query across the lake and the project's connections."),
    "kv": CommandGroup("towpath.cli.kv:cli", "Serve and read key-value stores (namespaces, typed gets, scans)."),
    "migration": CommandGroup(
        "towpath.cli.migration:cli", "Plan a table change, notify its consumers' owners, track it to done."
    ),
    "lineage": CommandGroup("towpath.cli.lineage:cli", "Column lineage of a table: what feeds it, what it feeds, where."),
    "move": CommandGroup("towpath.cli.move:cli", "Move tables into key-value stores: versioned, audited, swapped."),
    "cdc": CommandGroup("towpath.cli.cdc:cli", "Capture database changes into Iceberg tables and search indexes."),
    "search": CommandGroup("towpath.cli.search:cli", "Search a project's full-text index (kept current by CDC)."),
    "ui": CommandGroup("towpath.cli.ui:cli", "Serve the project's web console: runs, tables, charts, lineage, KV."),
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


class TowpathGroup(LazyGroup):
    """The root group: the CLI-wide guard around every command (`towpath.cli.guard`)."""

    def main(  # type: ignore[override]
        self, args: list[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        from towpath.cli.options import CliState

        argv = list(sys.argv[1:] if args is None else args)
        state = CliState()
        try:
            code = super().main(argv, prog_name, standalone_mode=False, obj=state, **extra)
        except Exception as exc:  # noqa: BLE001 - the guard: every ending gets one line (or JSON) and an exit code
            code = report(exc, verbose=state.verbose, as_json=wants_json(argv))
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=TowpathGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="towpath")
@click.option("-v", "--verbose", is_flag=True, help="Log what towpath does, and show full tracebacks for errors.")
@click.option(
    "-C", "--project", "project_dir", default=None,
    type=click.Path(file_okay=False), help="Project folder (or any folder below it). Default: the current "
    "folder, or the workflow file's folder for `workflow` commands.",
)
@click.option(
    "--no-worker", is_flag=True,
    help="Run in this process, not in the project's warm worker (see `towpath worker`).",
)
@click.pass_obj
def cli(state: CliState, verbose: bool, project_dir: str | None, no_worker: bool) -> None:
    """towpath: scaffold, test, run, audit and publish data pipelines on Iceberg.

    Start with `towpath project init`, then `towpath workflow run main.sch.yaml`.
    """
    del no_worker  # read by `towpath.cli.launch` before Click starts; declared here for --help and parsing
    state.verbose, state.project_dir = verbose, project_dir
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`towpath`): the exit codes are `towpath.cli.guard.ExitCode`."""
    cli.main(argv, prog_name="towpath")


if __name__ == "__main__":
    main()
