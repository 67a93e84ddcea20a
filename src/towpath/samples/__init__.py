"""Samples room: the recipes of the Dataflow sample workflow, their generator and synthetic data.

`sample_workflow(recipe, target)` renders a recipe into a runnable, isolated sample
(`towpath sample workflow`); `RECIPES` lists the recipes; `ensure_source_data` is the
packaged first step that fills a sample's source table; `recipe_path` gives a
seed-named copy for demos and tests that load `some_db.source_table` themselves.

Names are imported on first use (PEP 562), so `towpath sample workflow --help`,
which needs only the recipe registry, does not load numpy, pyarrow or pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from towpath.registry import lazy_exports

if TYPE_CHECKING:
    from towpath.samples.errors import RecipeUnavailableError, SampleError, TemplateError
    from towpath.samples.generator import (
        REQUIRED_FILES,
        SEED_NAMES,
        SampleNames,
        SampleResult,
        recipe_path,
        render_recipe,
        sample_names,
        sample_workflow,
        sanitize_user,
    )
    from towpath.samples.jobs import ensure_source_data
    from towpath.samples.recipe import RECIPES, Recipe, get_recipe
    from towpath.samples.source import load_source_table
    from towpath.samples.viewing_data import (
        COUNTRY_CODES,
        SOURCE_DDL,
        generate_viewing_day,
        generate_viewing_days,
    )

_EXPORTS = {
    "towpath.samples.errors": ("RecipeUnavailableError", "SampleError", "TemplateError"),
    "towpath.samples.generator": (
        "REQUIRED_FILES", "SEED_NAMES", "SampleNames", "SampleResult", "recipe_path", "render_recipe",
        "sample_names", "sample_workflow", "sanitize_user",
    ),
    "towpath.samples.jobs": ("ensure_source_data",),
    "towpath.samples.recipe": ("RECIPES", "Recipe", "get_recipe"),
    "towpath.samples.source": ("load_source_table",),
    "towpath.samples.viewing_data": ("COUNTRY_CODES", "SOURCE_DDL", "generate_viewing_day", "generate_viewing_days"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "COUNTRY_CODES", "RECIPES", "REQUIRED_FILES", "SEED_NAMES", "SOURCE_DDL", "Recipe", "RecipeUnavailableError",
    "SampleError", "SampleNames", "SampleResult", "TemplateError", "ensure_source_data", "generate_viewing_day",
    "generate_viewing_days", "get_recipe", "load_source_table", "recipe_path", "render_recipe", "sample_names",
    "sample_workflow", "sanitize_user",
]
assert sorted(__all__) == sorted(_MODULE_OF)


__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, globals())

