"""The registry of sample recipes: one entry per language of the seed's sample workflow.

Every runnable recipe implements the same business logic (top 100 titles per
country per day), so the recipes can be compared line by line; the registry
says where each one's transform lives and what it needs to run. `scala` and
`sparklyr` are recipes of the seed too, listed so users find them, but they
need toolchains that are not installed here; the generator refuses them with
that reason instead of writing code nobody ran.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from towpath.registry import Registry
from towpath.samples.errors import RecipeUnavailableError

TEMPLATES = Path(__file__).parent / "recipes"
"""Packaged template folders, one per runnable recipe, plus the files they share."""
COMMON = "_common"
"""The folder of files every packaged recipe shares (daily/backfill workflows, DDL, mocks)."""


@dataclass(frozen=True)
class Recipe:
    """One recipe of the sample workflow."""

    name: str
    summary: str
    """One line for `towpath sample workflow --help`."""
    default_shortname: str
    """Short name used when `--workflow-shortname` is not given (names the DDL file and the tables)."""
    transform: str | None = None
    """The transform inside the sample folder, e.g. `src/sparksql_write.sql`."""
    engine: str = "duckdb"
    """Engine the generated project uses when the generator creates the project."""
    toolchain: str | None = None
    """Set for recipes that need a toolchain which is not installed: what it is."""
    executables: tuple[str, ...] = ()
    """Commands whose presence would show that toolchain (reported, never required)."""
    folder: Path | None = None
    """The recipe's own template folder (default: the packaged `recipes/<name>`); a plugin recipe sets it."""

    @property
    def runnable(self) -> bool:
        return self.toolchain is None

    @property
    def template_folders(self) -> list[Path]:
        """The packaged template of a runnable recipe: the shared files, then the recipe's own on top."""
        return [TEMPLATES / COMMON, self.folder or TEMPLATES / self.name]


RECIPES: Registry[Recipe] = Registry("recipe", group="towpath.recipes")
"""Every recipe by name; a package adds one (a `Recipe` object) under the entry-point group `towpath.recipes`."""
for _recipe in (
    Recipe(
        "sql", "DuckDB-dialect SQL (GROUP BY ALL, QUALIFY) on the embedded engine.",
        "dataflow_sql_sample", "src/sql_write.sql",
    ),
    Recipe(
        "spark-sql", "The seed's three-step Spark SQL; runs on DuckDB (via sqlglot) or on Spark.",
        "dataflow_sparksql_sample", "src/sparksql_write.sql",
    ),
    Recipe(
        "python", "A Python transform on DuckDB relations over Arrow.",
        "dataflow_python_sample", "src/python_write.py",
    ),
    Recipe(
        "pyspark", "The seed's PySpark DataFrame code (groupBy/agg/Window/rank); runs on Spark.",
        "dataflow_pyspark_sample", "src/pyspark_write.py", engine="spark",
    ),
    Recipe(
        "scala", "The seed's Scala Spark job (needs sbt or gradle, Scala and the Spark jars; not installed).",
        "dataflow_scala_sample",
        toolchain="a JVM Scala toolchain (sbt or gradle, Scala 2.12/2.13 and the Apache Spark jars)",
        executables=("sbt", "gradle", "scalac"),
    ),
    Recipe(
        "sparklyr", "The seed's R job on sparklyr (needs R and the sparklyr package; not installed).",
        "dataflow_sparklyr_sample",
        toolchain="R with the sparklyr package (and a Spark installation it can start)",
        executables=("R", "Rscript"),
    ),
):
    RECIPES.register(_recipe.name, _recipe)


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; an unknown name suggests the closest one."""
    return RECIPES.get(name)


def require_runnable(recipe: Recipe) -> None:
    """Refuse a recipe whose toolchain is missing, saying what it needs and what to use instead."""
    if recipe.toolchain is None:
        return
    found = [exe for exe in recipe.executables if shutil.which(exe)]
    seen = f" (found {', '.join(found)} on PATH, but no tested template)" if found else ""
    raise RecipeUnavailableError(
        recipe.name,
        recipe.toolchain + seen,
        "The same logic is available as: spark-sql, pyspark, sql, python.",
    )
