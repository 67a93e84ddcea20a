"""What workflow runs need from a project, and the state one run threads through its jobs.

The workflows room never imports `towpath.project`: runs take a `Workspace`
(anything with a root, a config, a catalog, a state store and an engine
factory; `Project` is one), and job runners see only their `RunContext`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from towpath.catalog import Catalog
    from towpath.config import ProjectConfig
    from towpath.engines import Engine
    from towpath.lineage import RunLineage
    from towpath.state import StateStore


class Workspace(Protocol):
    """The project-level pieces a run uses (`towpath.project.Project` provides them)."""

    @property
    def root(self) -> Path: ...
    @property
    def config(self) -> ProjectConfig: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def state(self) -> StateStore: ...
    def new_engine(self) -> Engine: ...


@dataclass(frozen=True)
class DeferredMark:
    """A high-water mark an `hwm` step wanted to set inside a daily or backfill run."""

    execution_date: str
    table: str
    mark: dt.datetime


@dataclass
class DeferredMarks:
    """Collects `hwm` steps of the runs of a daily or backfill; the parent sets the marks once at the end.

    Thread-safe: parallel backfill dates add to one collector.
    """

    marks: list[DeferredMark] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, mark: DeferredMark) -> None:
        with self._lock:
            self.marks.append(mark)


@dataclass(frozen=True)
class RunContext:
    """One execution of a workflow: the project's config, catalog and state, its engine, parameters, WAP redirects."""

    config: ProjectConfig
    catalog: Catalog
    state: StateStore
    engine: Engine
    run_id: str
    workflow_id: str
    workflow_dir: Path
    params: Mapping[str, str]
    execution_date: str
    refs: Mapping[str, str] = field(default_factory=dict)
    """`db.table` -> branch: inside a WAP template, reads and writes of these tables go to the branch."""
    deferred_marks: DeferredMarks | None = None
    """Set inside a daily or backfill: `hwm` steps hand their mark to the parent instead of setting it."""
    lineage: RunLineage | None = None
    """Records what each job run read and wrote (and emits OpenLineage events when configured)."""
    job_run: int | None = None
    """The state store's id of the job run this context was handed to."""
    parent_job: int | None = None
    """The job run of the WAP template whose write jobs run with this context."""
    attempt: int | None = None
    """The WAP attempt of those write jobs."""

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
        return self.run.engine.query(query, dialect=dialect or self.run.config.dialect, refs=self.run.refs)

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
