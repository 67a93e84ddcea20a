"""Samples room: runnable recipes of the Dataflow sample workflow and their synthetic data."""

from pathlib import Path

from towpath.samples.source import load_source_table
from towpath.samples.viewing_data import (
    COUNTRY_CODES,
    SOURCE_DDL,
    generate_viewing_day,
    generate_viewing_days,
)

__all__ = ["COUNTRY_CODES", "SOURCE_DDL", "generate_viewing_day", "generate_viewing_days", "load_source_table", "recipe_path"]


def recipe_path(name: str) -> Path:
    """The packaged folder of a recipe (e.g. `spark-sql`)."""
    from towpath.errors import UnknownNameError

    root = Path(__file__).parent / "recipes"
    recipes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if name not in recipes:
        raise UnknownNameError("recipe", name, recipes)
    return root / name
