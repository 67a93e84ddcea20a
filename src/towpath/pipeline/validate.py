"""`Validate`: per-row rules as vectorised masks; bad rows go to the error sink with reasons.

Each rule returns a boolean mask (True = the row passes). The masks are ANDed
(nulls count as failures), good rows flow on, and every bad row is routed once
with all the rules it broke, e.g. ``"required: email; range: amount in [0, 1000]"``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from towpath.errors import PipelineError
from towpath.pipeline._cast import parse_type, try_cast
from towpath.pipeline.errors import PipelineDefinitionError
from towpath.pipeline.processor import Processor
from towpath.pipeline.routing import join_reasons


class Rule(ABC):
    """One check; `mask(batch)` is True where the row passes."""

    @property
    @abstractmethod
    def reason(self) -> str:
        """What a failing row broke, as shown in the error record."""

    @abstractmethod
    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        """A boolean array, True where the row passes."""

    def reasons(self, batch: pa.RecordBatch, mask: pa.Array) -> pa.Array:
        """Per row, what it broke (null where it passed); `reason` for every failing row by default."""
        return pc.if_else(mask, None, self.reason)

    def _column(self, batch: pa.RecordBatch, column: str) -> pa.Array:
        index = batch.schema.get_field_index(column)
        if index < 0:
            raise PipelineError(
                f"validation rule '{self.reason}': column '{column}' not in the batch; "
                f"it has {', '.join(batch.schema.names)}"
            )
        return batch.column(index)


class Required(Rule):
    """The columns are present and not null (and not blank, for strings)."""

    def __init__(self, *columns: str) -> None:
        if not columns:
            raise PipelineDefinitionError("Required needs at least one column")
        self.columns = columns

    @property
    def reason(self) -> str:
        return f"required: {', '.join(self.columns)}"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        return reduce(pc.and_, self._present(batch))

    def reasons(self, batch: pa.RecordBatch, mask: pa.Array) -> pa.Array:
        """Only the columns a row is missing: `required: email`, not every column of the rule."""
        missing = [pc.if_else(ok, None, column) for column, ok in zip(self.columns, self._present(batch))]
        names = join_reasons(missing, sep=", ")
        return pc.if_else(mask, None, pc.binary_join_element_wise("required: ", names, ""))

    def _present(self, batch: pa.RecordBatch) -> list[pa.Array]:
        masks = []
        for column in self.columns:
            values = self._column(batch, column)
            ok = pc.is_valid(values)
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
                # blank = empty or all whitespace; both checks read only offsets/bytes (no trimmed copy)
                blank = pc.or_(pc.equal(pc.binary_length(values), 0), pc.utf8_is_space(values))
                ok = pc.and_(ok, pc.invert(pc.fill_null(blank, True)))
            masks.append(ok)
        return masks


class Type(Rule):
    """Non-null values cast to `type` (a column of strings holding numbers passes `int64`)."""

    def __init__(self, column: str, type: str | pa.DataType) -> None:
        self.column, self.type = column, parse_type(type)

    @property
    def reason(self) -> str:
        return f"type: {self.column} as {self.type}"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        _, failed = try_cast(self._column(batch, self.column), self.type)
        return pc.invert(failed)


class Range(Rule):
    """`min <= value <= max` (either bound optional); nulls pass (combine with Required).

    On a text column with numeric bounds the values are read as numbers (float64), so raw
    CSV text can be validated before it is cast: `"10.5"` passes `min=0`, `"ten"` fails.
    """

    def __init__(self, column: str, min: Any = None, max: Any = None) -> None:
        if min is None and max is None:
            raise PipelineDefinitionError(f"Range on '{column}' needs min or max")
        self.column, self.min, self.max = column, min, max

    @property
    def reason(self) -> str:
        lo = "-inf" if self.min is None else self.min
        hi = "inf" if self.max is None else self.max
        return f"range: {self.column} in [{lo}, {hi}]"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        values = self._column(batch, self.column)
        bound = self.min if self.min is not None else self.max
        if (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) and not isinstance(bound, str):
            number = pa.float64() if isinstance(bound, (int, float)) and not isinstance(bound, bool) else pa.scalar(bound).type
            values, failed = try_cast(values, number)
        else:
            failed = None
        ok = pa.nulls(len(values), pa.bool_()).fill_null(True)
        if self.min is not None:
            ok = pc.and_(ok, pc.fill_null(pc.greater_equal(values, self.min), True))
        if self.max is not None:
            ok = pc.and_(ok, pc.fill_null(pc.less_equal(values, self.max), True))
        return ok if failed is None else pc.and_(ok, pc.invert(failed))


class Regex(Rule):
    """The whole string value matches `pattern` (RE2 syntax); nulls pass."""

    def __init__(self, column: str, pattern: str) -> None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PipelineDefinitionError(f"Regex on '{column}': invalid pattern {pattern!r}: {exc}") from None
        self.column, self.pattern = column, pattern
        self._anchored = pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"

    @property
    def reason(self) -> str:
        return f"regex: {self.column} ~ {self.pattern}"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        values = self._column(batch, self.column)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = pc.cast(values, pa.string())
        return pc.fill_null(pc.match_substring_regex(values, self._anchored), True)


class OneOf(Rule):
    """The value is one of `allowed`; nulls pass."""

    def __init__(self, column: str, allowed: Sequence[Any]) -> None:
        self.column, self.allowed = column, list(allowed)

    @property
    def reason(self) -> str:
        return f"allowed: {self.column} in {self.allowed}"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        values = self._column(batch, self.column)
        return pc.or_(pc.is_in(values, value_set=pa.array(self.allowed, values.type)), pc.is_null(values))


class Check(Rule):
    """A vectorised predicate: `fn(batch) -> boolean array` (nulls fail)."""

    def __init__(self, fn: Callable[[pa.RecordBatch], Any], *, name: str | None = None) -> None:
        self.fn, self.name = fn, name or getattr(fn, "__name__", "check")

    @property
    def reason(self) -> str:
        return f"check: {self.name}"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        result = self.fn(batch)
        if isinstance(result, pa.ChunkedArray):
            result = result.combine_chunks()
        if not isinstance(result, pa.Array) or result.type != pa.bool_() or len(result) != batch.num_rows:
            raise PipelineError(f"check '{self.name}' must return a boolean array of {batch.num_rows} rows")
        return pc.fill_null(result, False)


class RowCheck(Rule):
    """A per-row predicate `fn(row: dict) -> bool`: the slow path, for logic that is not vectorisable."""

    def __init__(self, fn: Callable[[dict[str, Any]], bool], *, name: str | None = None) -> None:
        self.fn, self.name = fn, name or getattr(fn, "__name__", "row_check")

    @property
    def reason(self) -> str:
        return f"check: {self.name}"

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        return pa.array([bool(self.fn(row)) for row in batch.to_pylist()], pa.bool_())


def split_valid(batch: pa.RecordBatch, rules: Sequence[Rule]) -> tuple[pa.RecordBatch, pa.RecordBatch, pa.Array]:
    """(good rows, bad rows, reasons of the bad rows) for `rules`."""
    masks = [pc.fill_null(rule.mask(batch), False) for rule in rules]
    ok = reduce(pc.and_, masks)
    if ok.false_count == 0:
        return batch, batch.slice(0, 0), pa.array([], pa.string())
    bad = pc.invert(ok)
    failing = batch.filter(bad)  # reasons are per row: build them for the failing rows only
    parts = [rule.reasons(failing, mask.filter(bad)) for rule, mask in zip(rules, masks)]
    reasons = join_reasons(parts)
    return batch.filter(ok), failing, reasons


class Validate(Processor):
    """Check every row against `rules`; pass the good rows on, route the bad ones with reasons.

    Args:
        rules: `Required`, `Type`, `Range`, `Regex`, `OneOf`, `Check`, `RowCheck`.
        error_sink: a Sink, a file path (`.jsonl`, `.csv`, `.parquet`), a callable
            taking the error records, or None for the pipeline's error sink.
    """

    def __init__(self, *rules: Rule, error_sink: Any = None, name: str | None = None) -> None:
        if not rules:
            raise PipelineDefinitionError("Validate needs at least one rule")
        for rule in rules:
            if not isinstance(rule, Rule):
                raise PipelineDefinitionError(f"Validate: {rule!r} is not a validation rule")
        self.rules = list(rules)
        self.error_sink = error_sink
        if name:
            self.name = name

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        good, bad, reasons = split_valid(batch, self.rules)
        if bad.num_rows:
            self.ctx.errors.put(bad, self.name, reasons)
        if good.num_rows:
            yield good
