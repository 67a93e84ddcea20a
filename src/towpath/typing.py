"""Type aliases shared by several rooms."""

from __future__ import annotations

from typing import TypeAlias

import pyarrow as pa

TableName: TypeAlias = str
"""A table as `namespace.table` (also accepted: `catalog/namespace/table`)."""

Params: TypeAlias = dict[str, str]
"""Resolved workflow parameters: name -> string value, as substituted into `${NAME}`."""

ArrowData: TypeAlias = pa.Table | pa.RecordBatchReader
"""What parts hand each other: a whole table or a stream of record batches."""
