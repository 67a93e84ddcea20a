"""Options and helpers shared by every command group: the global state, `--json`, the project."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from towpath.project import Project

R = TypeVar("R")


@dataclass
class CliState:
    """The global options of `towpath` (the root context's `obj`), read by the guard and the commands."""

    verbose: bool = False
    project_dir: str | None = None
    """`-C/--project`, or None to look from the current folder (or the workflow file's folder)."""
    as_json: bool = False
    """`--json` of the running command: progress bars stay off so stdout is only the JSON."""
    env: str | None = None
    """`--env` of the running command (None: `$TOWPATH_ENV`, else production; `towpath.environment.resolve_env`)."""


def output(human: Callable[[R], object], *, exit_code: Callable[[R], int] | None = None) -> Callable[
    [Callable[..., R]], Callable[..., None]
]:
    """Give a command `--json`: it returns its result, printed as JSON or by `human`.

    `exit_code(result)` is what the command exits with after printing (1 for a
    failed run or an invalid mock, pytest's code for `project test`): the result
    is shown in full either way.
    """

    def decorate(command: Callable[..., R]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(*args: Any, as_json: bool, **kwargs: Any) -> None:
            click.get_current_context().find_root().ensure_object(CliState).as_json = as_json
            result = command(*args, **kwargs)
            if as_json:
                from towpath.cli.render import json_out

                json_out(result)
            else:
                human(result)
            code = 0 if exit_code is None else exit_code(result)
            if code:
                raise click.exceptions.Exit(code)

        return click.option("--json", "as_json", is_flag=True, help="Print the result (or the error) as JSON.")(run)

    return decorate


def env_option(command: Callable[..., R]) -> Callable[..., R]:
    """Give a command `--env NAME`: the environment `project_from` opens the project in."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.find_root().ensure_object(CliState).env = value

    return click.option(
        "--env", "env", metavar="NAME", expose_value=False, callback=remember,
        help="Environment to read and write (default: $TOWPATH_ENV, else production); see `towpath project deploy`.",
    )(command)


def json_requested(ctx: click.Context) -> bool:
    """Whether the running command was given `--json` (to keep progress output off)."""
    return ctx.find_root().ensure_object(CliState).as_json


def project_from(ctx: click.Context, *, near: str | None = None) -> Project:
    """The `towpath.Project` of `-C/--project`; without it, the one at or above `near` (a file
    the command reads, such as a workflow), else at or above the current folder."""
    from pathlib import Path  # here: `towpath --help` imports this module, and needs no paths

    from towpath.project import Project

    state = ctx.find_root().ensure_object(CliState)
    if state.project_dir is not None:
        return Project.find(state.project_dir, env=state.env)
    if near is not None and Path(near).exists():
        return Project.find(Path(near).resolve().parent, env=state.env)
    return Project.find(".", env=state.env)
