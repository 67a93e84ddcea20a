"""The state one workflow run threads through its jobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from towpath.catalog import Catalog
    from towpath.catalog.state import RunStore
    from towpath.engines import Engine
    from towpath.project import Project


@dataclass(frozen=True)
class RunContext:
    """One execution of a workflow: its project, engine, parameters and WAP redirects."""

    project: Project
    engine: Engine
    run_id: str
    workflow_id: str
    workflow_dir: Path
    params: Mapping[str, str]
    execution_date: str
    refs: Mapping[str, str] = field(default_factory=dict)
    """`db.table` -> branch: inside a WAP template, reads and writes of these tables go to the branch."""

    @property
    def catalog(self) -> Catalog:
        return self.project.catalog

    @property
    def store(self) -> RunStore:
        return self.project.state

    def with_refs(self, refs: Mapping[str, str]) -> RunContext:
        return replace(self, refs={**self.refs, **refs})

    def with_params(self, extra: Mapping[str, str]) -> RunContext:
        return replace(self, params={**self.params, **extra}) if extra else self


@dataclass(frozen=True)
class JobContext:
    """What a `python` job's function receives: `fn(ctx) -> Arrow | Polars | DuckDB relation`.

    A `pyspark` job's function gets the same context and uses `ctx.spark` and
    `ctx.table(name)` to return a Spark DataFrame (only on the Spark engine).

    Reads go through the same WAP redirects as SQL jobs, so a Python transform
    inside a WAP template sees the branch it writes to.
    """

    run: RunContext
    job_id: str
    params: Mapping[str, str]

    @property
    def execution_date(self) -> str:
        return self.run.execution_date

    def sql(self, query: str, *, dialect: str | None = None) -> pa.Table:
        """Run a query over the project's tables (Spark SQL by default) and return Arrow."""
        return self.run.engine.query(query, dialect=dialect or self.run.project.config.dialect, refs=self.run.refs)

    def read(self, table: str, *, where: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """Read a table (optionally filtered with a SQL predicate) as Arrow, with partition pruning."""
        from sqlglot import exp

        query = exp.select(*(columns or ["*"])).from_(exp.to_table(table))
        if where:
            query = query.where(where, dialect="duckdb")
        return self.run.engine.query(query, dialect="duckdb", refs=self.run.refs)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    @property
    def spark(self) -> SparkSession:
        """The engine's SparkSession, for `pyspark` jobs (needs `engine: spark` in towpath.yaml)."""
        return spark_engine(self.run.engine, self.job_id).spark  # type: ignore[no-any-return]

    def table(self, name: str) -> DataFrame:
        """A catalog table as a Spark DataFrame; inside a WAP template, a redirected table reads its branch."""
        return spark_engine(self.run.engine, self.job_id).dataframe(name, refs=self.run.refs)  # type: ignore[no-any-return]


def spark_engine(engine: Engine, job_id: str) -> Any:
    """`engine` if it offers Spark DataFrames (a `spark` session and `dataframe()`), else a clear error.

    Checked by capability, not by class, so a plugin engine that speaks Spark works too.
    """
    from towpath.errors import EngineError

    if not callable(getattr(type(engine), "dataframe", None)) or not hasattr(type(engine), "spark"):
        raise EngineError(
            f"job '{job_id}': pyspark jobs need `engine: spark` in towpath.yaml "
            f"(this project's engine is '{engine.name}')"
        )
    return engine
