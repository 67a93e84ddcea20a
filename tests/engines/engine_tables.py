"""Schemas and rows of the engine tests' Iceberg tables (the seed's viewing-hours example)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DateType, DoubleType, LongType, NestedField, StringType

SOURCE_SCHEMA = Schema(
    NestedField(1, "title_id", StringType(), required=False),
    NestedField(2, "country_code", StringType(), required=False),
    NestedField(3, "view_hours", DoubleType(), required=False),
    NestedField(4, "date", DateType(), required=False),
)
TARGET_SCHEMA = Schema(
    NestedField(1, "title_id", StringType(), required=False),
    NestedField(2, "country_code", StringType(), required=False),
    NestedField(3, "title_rank", LongType(), required=False),
    NestedField(4, "view_hours", DoubleType(), required=False),
    NestedField(5, "date", DateType(), required=False),
)


def by_date(schema: Schema) -> PartitionSpec:
    """Identity partitioning on `date`: one data file per date per write."""
    return PartitionSpec(PartitionField(schema.find_field("date").field_id, 1000, IdentityTransform(), "date"))


def source_rows(days: int = 1, start: dt.date = dt.date(2022, 1, 1)) -> pa.Table:
    """9 rows a day: in US title 'b' and 'c' tie; in CA one null title and one zero-hours row."""
    titles, countries, hours, dates = [], [], [], []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        for title, country, h in [
            ("a", "US", 10.0), ("a", "US", 5.0), ("b", "US", 7.0), ("c", "US", 7.0), ("d", "US", 1.0),
            ("a", "CA", 3.0), ("b", "CA", 4.0), (None, "CA", 100.0), ("e", "CA", 0.0),
        ]:
            titles.append(title)
            countries.append(country)
            hours.append(h)
            dates.append(day)
    return pa.table({"title_id": titles, "country_code": countries, "view_hours": hours, "date": dates})
