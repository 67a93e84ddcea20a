"""Pipeline factories for the CLI tests: `towpath pipeline run tests/pipeline/factories.py:build -p ...`."""

from __future__ import annotations

from towpath.connectors.files import CsvSource, ParquetSink
from towpath.pipeline import Cast, Filter, Job, Pipeline, Required, Validate


def build(src: str, out: str, min_amount: str = "0") -> Pipeline:
    """CSV -> validate -> cast -> filter -> Parquet; `min_amount` arrives as a string, like every CLI param."""
    return Pipeline([
        CsvSource(src, types={"amount": "string"}),
        Validate(Required("id", "name")),
        Cast({"amount": "float64"}),
        Filter(f"amount >= {float(min_amount)}"),
        ParquetSink(out),
    ], name="orders")


def build_job(src: str) -> Job:
    """A Job without a destination: only the transform runs."""
    return Job("count_only").set_source(CsvSource(src)).set_transformer(Validate(Required("id")))


def broken(src: str) -> Pipeline:
    return Pipeline([CsvSource(src), Cast({"id": "int64"}), Filter("no_such_column > 1")])
