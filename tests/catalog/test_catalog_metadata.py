"""Table metadata and high-water marks live in Iceberg table properties and round-trip."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from catalog_data import RacingCatalog

from towpath.catalog import Catalog, TableMetadata, get_hwm, get_metadata, set_hwm, set_metadata
from towpath.errors import CatalogError, TableNotFoundError


def test_metadata_round_trips_through_table_properties(catalog: Catalog, results: str) -> None:
    assert get_metadata(catalog, results).owner is None
    stored = set_metadata(
        catalog, results, owner="content-data", tags=["daily", "top10"], lifetime_days=365,
        column_types={"title_id": "pk", "COUNTRY_CODE": "pk"}, description="Top titles per country and day.",
    )
    assert stored == TableMetadata(
        owner="content-data", tags=["daily", "top10"], lifetime_days=365,
        column_types={"country_code": "pk", "title_id": "pk"}, description="Top titles per country and day.",
    )
    props = catalog.table(results).properties
    assert props["towpath.owner"] == "content-data"
    assert json.loads(props["towpath.tags"]) == ["daily", "top10"]
    assert props["towpath.lifetime-days"] == "365"
    assert json.loads(props["towpath.column-types"]) == {"country_code": "pk", "title_id": "pk"}
    assert props["comment"] == "Top titles per country and day."


def test_only_given_fields_change(catalog: Catalog, results: str) -> None:
    set_metadata(catalog, results, owner="a", tags=["x"])
    after = set_metadata(catalog, results, lifetime_days=30)
    assert (after.owner, after.tags, after.lifetime_days) == ("a", ["x"], 30)
    assert after.description and after.description.startswith("Example dataset")  # DDL comment untouched


def test_unknown_column_type_column_names_close_matches(catalog: Catalog, results: str) -> None:
    with pytest.raises(CatalogError, match="unknown column 'title_idd'.*'title_id'"):
        set_metadata(catalog, results, owner="b", column_types={"title_idd": "pk"})
    assert get_metadata(catalog, results).owner is None  # nothing was written


def test_bad_lifetime_and_missing_table(catalog: Catalog, results: str) -> None:
    with pytest.raises(CatalogError, match="positive number of days"):
        set_metadata(catalog, results, lifetime_days=0)
    with pytest.raises(TableNotFoundError, match="dataflow_sample_result'.*Did you mean"):
        get_metadata(catalog, "foo.dataflow_sample_result")


def test_hwm_from_a_date_is_midnight_in_the_time_zone(catalog: Catalog, results: str) -> None:
    assert get_hwm(catalog, results) is None
    mark = set_hwm(catalog, results, dt.date(2024, 3, 1), "America/Los_Angeles").stored
    assert mark == dt.datetime(2024, 3, 1, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert catalog.table(results).properties["towpath.hwm"] == "2024-03-01T00:00:00-08:00"
    stored = get_hwm(catalog, results)
    assert stored == mark and stored is not None and stored.utcoffset() == dt.timedelta(hours=-8)


def test_hwm_accepts_strings_and_aware_datetimes(catalog: Catalog, results: str) -> None:
    assert set_hwm(catalog, results, "2024-03-02").stored.isoformat() == "2024-03-02T00:00:00+00:00"
    assert set_hwm(catalog, results, "2024-03-05T06:30:00", "Europe/Berlin").stored.isoformat() == "2024-03-05T06:30:00+01:00"
    aware = dt.datetime(2024, 3, 6, 12, tzinfo=dt.UTC)
    assert set_hwm(catalog, results, aware, "Asia/Tokyo").stored == aware  # an explicit offset wins


def test_hwm_only_moves_forward_unless_forced(catalog: Catalog, results: str) -> None:
    set_hwm(catalog, results, "2024-03-05")
    older = set_hwm(catalog, results, "2024-03-02")
    assert older.kept_newer and not older.moved
    assert older.stored == older.previous == get_hwm(catalog, results) == dt.datetime(2024, 3, 5, tzinfo=ZoneInfo("UTC"))
    assert set_hwm(catalog, results, "2024-03-05").moved is False  # the same mark again changes nothing
    forced = set_hwm(catalog, results, "2024-03-02", force=True)
    assert forced.moved and get_hwm(catalog, results) == dt.datetime(2024, 3, 2, tzinfo=ZoneInfo("UTC"))


def test_a_mark_checked_against_a_stale_read_does_not_win(catalog: Catalog, results: str) -> None:
    """Compare and set are one optimistic commit: a newer mark set in between is not overwritten."""
    set_hwm(catalog, results, "2024-03-01")
    racing = RacingCatalog(catalog.iceberg)
    racing.race = lambda: set_hwm(catalog, results, "2024-03-09")  # lands after `racing` read 03-01
    change = set_hwm(racing, results, "2024-03-05")
    assert change.kept_newer and get_hwm(catalog, results) == dt.datetime(2024, 3, 9, tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("value", "tz", "message"),
    [("yesterday", "UTC", "not an ISO date"), ("2024-01-01", "Mars/Olympus", "unknown time zone")],
)
def test_bad_hwm_is_a_clear_error_and_writes_nothing(catalog: Catalog, results: str, value: str, tz: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        set_hwm(catalog, results, value, tz)
    assert get_hwm(catalog, results) is None
