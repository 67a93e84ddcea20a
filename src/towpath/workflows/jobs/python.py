"""`python` jobs: `module:function(ctx)` returning Arrow, Polars or a DuckDB relation.

`pyspark` jobs run the same way on the Spark engine and return a Spark DataFrame.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from towpath.config import invalid
from towpath.errors import SpecError, TowpathError, WorkflowError, first_line
from towpath.status import Status
from towpath.workflows.context import JobContext, RunContext, spark_engine
from towpath.workflows.jobs import JobType, Write
from towpath.workflows.results import JobResult
from towpath.workflows.spec.base import WriteJobSpec, WriteMode

if TYPE_CHECKING:
    from towpath.workflows.preflight import Preflight

__all__ = ["PySparkJob", "PythonJob", "PythonJobSpec", "load_callable"]

_CALLABLE = re.compile(r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*$")


class PythonJobSpec(WriteJobSpec):
    """Call a Python function; a returned Arrow table (or DataFrame) is written to `target`."""

    type: Literal["python", "pyspark"]
    """`pyspark` jobs get `ctx.spark` and `ctx.table()` and need `engine: spark`; the rest is the same."""
    callable: str
    """`module:function` (module importable from the workflow folder) or `src/transform.py:function`."""
    target: str | None = None
    """Table (`db.table`) that receives the returned data."""
    mode: WriteMode = "dynamic_overwrite"
    """How `target` is written (see the sql job)."""
    inputs: list[str] = Field(default_factory=list)
    """Tables the function reads that its code does not name statically (`ctx.read("db.t")` and
    `ctx.read(ctx.params["T"])` are found by themselves): lineage reads these as its inputs."""
    lineage: dict[str, list[str]] | None = None
    """Column lineage of `target`: `{column: [source columns]}`, each `column` of the only input or
    `db.table.column`; `[]` for a computed constant. Columns left out come from the input column of
    the same name, if there is one."""

    @field_validator("callable")
    @classmethod
    def _callable_shape(cls, value: str) -> str:
        if not _CALLABLE.match(value.strip()):
            raise invalid("expected 'module:function' or 'path/to/file.py:function'")
        return value.strip()

    @property
    def module_and_function(self) -> tuple[str, str]:
        """(`module` or file path, function name)."""
        module, _, function = self.callable.rpartition(":")
        return module, function


def load_callable(reference: str, base: Path) -> Callable[[JobContext], Any]:
    """Import `package.module:function` (from `base` first) or `path/to/file.py:function`."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise SpecError(f"expected 'module:function' or 'path/file.py:function', got '{reference}'", field="callable")
    if module_name.endswith(".py"):
        path = (base / module_name).resolve()
        if not path.is_file():
            raise SpecError(f"python file not found: {path}", field="callable")
        spec = importlib.util.spec_from_file_location(f"towpath_job_{path.stem}_{abs(hash(path))}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
    else:
        sys.path.insert(0, str(base))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SpecError(f"cannot import module '{module_name}' (from {base}): {exc}", field="callable") from None
        finally:
            sys.path.remove(str(base))
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SpecError(f"'{attr}' is not a function in {module_name}", field="callable")
    return fn  # type: ignore[no-any-return]


class PythonJob(JobType[PythonJobSpec]):
    """Calls the function with a `JobContext`; a returned table is written to `target`."""

    name = "python"
    SPEC = PythonJobSpec
    WRITES_IN_WAP = True
    OPAQUE = True

    @classmethod
    def check(cls, spec: PythonJobSpec, preflight: Preflight) -> None:
        preflight.python(spec)

    @classmethod
    def run(cls, spec: PythonJobSpec, ctx: RunContext) -> JobResult:
        started = time.perf_counter()
        if spec.type == "pyspark":
            spark_engine(ctx.engine, spec.id)  # fail before importing the job's code
        fn = load_callable(spec.callable, ctx.workflow_dir)
        job_ctx = JobContext(run=ctx, job_id=spec.id, params=ctx.params)
        try:
            output = fn(job_ctx)
        except TowpathError:
            raise
        except Exception as exc:
            raise WorkflowError(
                f"{spec.type} job '{spec.id}' ({spec.callable}) raised {type(exc).__name__}: {first_line(exc)}"
            ) from exc
        result = JobResult(job_id=spec.id, job_type=spec.type, status=Status.SUCCESS)
        if spec.target:
            if output is None:
                raise WorkflowError(f"{spec.type} job '{spec.id}' returned None but declares target '{spec.target}'")
            written = ctx.engine.write(spec.target, output, mode=spec.mode, refs=ctx.refs)
            result.rows_written = written.rows
            if written.snapshot_id is not None:
                result.snapshots[spec.target] = written.snapshot_id
        result.duration_s = time.perf_counter() - started
        return result

    @classmethod
    def writes(cls, spec: PythonJobSpec, workflow_dir: Path, params: Mapping[str, str]) -> list[Write]:
        return [Write(spec.target, "target")] if spec.target else []


class PySparkJob(PythonJob):
    """A python job on the Spark engine: the function gets `ctx.spark` and returns a Spark DataFrame."""

    name = "pyspark"
