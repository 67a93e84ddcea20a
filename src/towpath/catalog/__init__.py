"""Catalog room: Iceberg tables through pyiceberg."""

from towpath.catalog._catalog import MAIN, Catalog, ScanPlan, WriteMode, conform, normalize_identifier

__all__ = ["MAIN", "Catalog", "ScanPlan", "WriteMode", "conform", "normalize_identifier"]
