"""Options and helpers shared by several command groups."""

from __future__ import annotations

from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def project_from(ctx: click.Context) -> Any:
    """The `towpath.Project` for the folder given by `-C/--project` (default: current folder)."""
    from towpath.project import Project

    return Project.find(ctx.find_root().obj["project_dir"])
