"""`towpath sample workflow RECIPE [TARGET_PATH]`: generate a runnable sample workflow."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output
from towpath.samples.recipe import RECIPES


def _recipe_lines() -> str:
    width = max(len(name) for name in RECIPES)
    return "\n".join(f"  {name.ljust(width)}  {r.summary}" for name, r in RECIPES.items())


@click.group("sample")
def cli() -> None:
    """Generate fully functional sample workflows from recipes."""


def _written(result: Any) -> None:
    """One line under --skip-info, else the panel of what was written and what to run next."""
    if click.get_current_context().params["skip_info"]:
        render.success(f"{result.recipe} sample written to {result.target}")
    else:
        _info(result)


def _info(result: Any) -> None:
    """The panel the seed prints after generating: what, where, tables, and how to run it."""
    from rich.panel import Panel

    project = f"created {result.project_root / 'towpath.yaml'}" if result.project_created else str(result.project_root)
    body = "\n".join(
        [
            f"[bold]recipe[/bold]    {result.recipe}",
            f"[bold]workflow[/bold]  {result.workflow_id}  (short name {result.shortname})",
            f"[bold]folder[/bold]    {result.target}",
            f"[bold]project[/bold]   {project}",
            f"[bold]writes[/bold]    {result.tables['target']}",
            f"[bold]source[/bold]    {result.tables['source']}  (synthetic data on first run)",
            "",
            "[bold]files[/bold]",
            *(f"  {name}" for name in result.files),
            "",
            "[bold]next[/bold]",
            *(f"  [cyan]{step}[/cyan]" for step in result.next_steps),
        ]
    )
    render.console.print(Panel(body, title=f"towpath sample workflow {result.recipe}", expand=False))


@cli.command(
    "workflow",
    help=f"""Create a sample workflow based on RECIPE and land it in TARGET_PATH
(default: the current folder). The sample is runnable at once: its first run fills
its own source table with synthetic viewing data, and its tables are named after
you and the short name, so samples never write each other's tables.

\b
Recipes (same business logic in each):
{_recipe_lines()}

An existing non-empty TARGET_PATH is refused unless --force. When TARGET_PATH is not
inside a towpath project, a project (towpath.yaml) is created in it.""",
)
@click.argument("recipe")
@click.argument("target_path", default=".", type=click.Path(file_okay=False))
@click.option("--source-path", type=click.Path(), help="Folder of a custom template with the same layout.")
@click.option("--workflow-shortname", help="Workflow short name: names the DDL file and the tables.")
@click.option("--workflow-id", help="Workflow ID (default: the short name).")
@click.option("--skip-info", is_flag=True, help="Skip the info about the workflow sample.")
@click.option("--force", is_flag=True, help="Write into a non-empty TARGET_PATH (same-named files are replaced).")
@output(_written)
def workflow(
    recipe: str, target_path: str, source_path: str | None, workflow_shortname: str | None,
    workflow_id: str | None, skip_info: bool, force: bool,
) -> Any:
    from towpath.samples import sample_workflow

    return sample_workflow(
        recipe, target_path, shortname=workflow_shortname, workflow_id=workflow_id,
        source_path=source_path, force=force,
    )


@cli.command("recipes")
@output(render.recipes)
def recipes() -> list[dict[str, Any]]:
    """List the recipes `towpath sample workflow RECIPE` can generate."""
    return [{"recipe": name, "summary": r.summary, "engine": r.engine, "runnable": r.runnable,
             "needs": r.toolchain} for name, r in RECIPES.items()]
