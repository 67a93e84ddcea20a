"""`towpath search INDEX "QUERY"`: find documents in a project's search index."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from


def _hits(result: Any) -> None:
    names: list[str] = []
    for hit in result.hits:
        names.extend(k for k in hit.fields if k not in names)
    rows = [{**{k: "" if hit.fields.get(k) is None else str(hit.fields.get(k)) for k in names},
             "_score": f"{hit.score:.2f}"} for hit in result.hits]
    render.table(rows, [*names, "_score"],
                 title=f"{result.index}: {len(result.hits)} of {result.total} matching {result.query!r}")


@click.command("search")
@click.argument("index")
@click.argument("query")
@click.option("--filter", "filters", multiple=True, metavar="FIELD=VALUE",
              help="Only documents whose FIELD matches VALUE; repeatable (all must match).")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Documents to return.")
@click.option("--fields", metavar="A,B,...", help="Only these fields of each document (default: all).")
@output(_hits)
@click.pass_context
def cli(ctx: click.Context, index: str, query: str, filters: tuple[str, ...], limit: int, fields: str | None) -> Any:
    """Search INDEX (under .towpath/search/) for QUERY: words, "phrases", AND/OR/NOT, field:value, `*`.

    \b
    Example:
      towpath search patients "diabetes AND city:Austin" --filter plan=gold --limit 5
      towpath search patients "conditions:asthma" --fields name,state,plan --json
    """
    import dataclasses

    from towpath.config import parse_assignments
    from towpath.search import open_index

    result = open_index(project_from(ctx).root, index).search(query, filters=parse_assignments(filters), limit=limit)
    if fields is None:
        return result
    keep = [f.strip() for f in fields.split(",") if f.strip()]
    return dataclasses.replace(result, hits=[dataclasses.replace(hit, fields={k: hit.fields.get(k) for k in keep})
                                             for hit in result.hits])
