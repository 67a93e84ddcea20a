"""Samples room: runnable recipes of the Dataflow sample workflow and their synthetic data."""

from towpath.samples.viewing_data import COUNTRY_CODES, SOURCE_DDL, generate_viewing_day, generate_viewing_days

__all__ = ["COUNTRY_CODES", "SOURCE_DDL", "generate_viewing_day", "generate_viewing_days"]
