"""Samples room: the recipes of the Dataflow sample workflow, their generator and synthetic data.

`sample_workflow(recipe, target)` renders a recipe into a runnable, isolated sample
(`towpath sample workflow`); `RECIPES` lists the recipes; `ensure_source_data` is the
packaged first step that fills a sample's source table; `recipe_path` gives a
seed-named copy for demos and tests that load `some_db.source_table` themselves.
"""

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

__all__ = [
    "COUNTRY_CODES", "RECIPES", "REQUIRED_FILES", "SEED_NAMES", "SOURCE_DDL", "Recipe", "RecipeUnavailableError",
    "SampleError", "SampleNames", "SampleResult", "TemplateError", "ensure_source_data", "generate_viewing_day",
    "generate_viewing_days", "get_recipe", "load_source_table", "recipe_path", "render_recipe", "sample_names",
    "sample_workflow", "sanitize_user",
]
