"""Pipeline room: Ratchet-style concurrent ETL from processors in stages.

    >>> from towpath.pipeline import Pipeline, Validate, Required
    >>> from towpath.connectors.files import CsvSource, ParquetSink
    >>> Pipeline([CsvSource("in.csv"), Validate(Required("id")), ParquetSink("out.parquet")])  # doctest: +SKIP
"""

from towpath.pipeline.errors import FactoryError, PipelineDefinitionError, ProcessorFailedError
from towpath.pipeline.job import Job
from towpath.pipeline.loader import load_pipeline
from towpath.pipeline.memory import Collect, TableSource
from towpath.pipeline.pipeline import Pipeline, Stage
from towpath.pipeline.processor import Processor, ProcessorContext, Sink, Source
from towpath.pipeline.routing import ERROR_SCHEMA, ErrorRouter
from towpath.pipeline.row import RowProcessor, row_processor
from towpath.pipeline.stats import PipelineStats, ProcessorStats
from towpath.pipeline.step import Retry, Step, step
from towpath.pipeline.transforms import Batcher, Cast, Dedupe, Filter, Map, Rename, Select, Sql
from towpath.pipeline.validate import (
    Check,
    OneOf,
    Range,
    Regex,
    Required,
    RowCheck,
    Rule,
    Type,
    Validate,
    split_valid,
)

__all__ = [
    "ERROR_SCHEMA",
    "Batcher",
    "Cast",
    "Check",
    "Collect",
    "Dedupe",
    "ErrorRouter",
    "FactoryError",
    "Filter",
    "Job",
    "Map",
    "OneOf",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineStats",
    "Processor",
    "ProcessorContext",
    "ProcessorFailedError",
    "ProcessorStats",
    "Range",
    "Regex",
    "Rename",
    "Required",
    "Retry",
    "RowCheck",
    "RowProcessor",
    "Rule",
    "Select",
    "Sink",
    "Source",
    "Sql",
    "Stage",
    "Step",
    "TableSource",
    "Type",
    "Validate",
    "load_pipeline",
    "row_processor",
    "split_valid",
    "step",
]
