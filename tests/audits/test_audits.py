"""Each built-in audit passes on good data and reports count + sample on bad data, via real DuckDB."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from towpath.audits import AUDITS, AuditResult, AuditSpec, failure_report, get_audit, run_audits
from towpath.errors import AuditError, SpecError, UnknownNameError


def audit(function: str, **params: object) -> dict[str, object]:
    return {"function": function, "params": params}


def one(specs: object, query: object, **kwargs: object) -> AuditResult:
    (result,) = run_audits([specs], query, **kwargs)  # type: ignore[list-item,arg-type]
    return result


@pytest.fixture
def titles(wh):
    return wh.create(
        "titles",
        pa.table(
            {
                "date": pa.array([dt.date(2024, 1, 1)] * 3 + [dt.date(2024, 1, 2)] * 4),
                "country_code": ["US", "US", "CA", "US", "US", "CA", "BR"],
                "title_id": [1, 2, 1, 1, 2, 1, None],
                "title_rank": [1, 2, 1, 1, 2, 1, 3],
            }
        ),
    )


def test_every_registered_audit_loads_under_its_own_name_with_its_typed_params():
    for name, audit_cls in AUDITS.items():
        assert audit_cls.name == name
        generic = [b for b in audit_cls.__orig_bases__ if getattr(b, "__origin__", None) is not None]
        assert generic and generic[0].__args__[0] is audit_cls.Params  # Params comes from Audit[P]
    assert get_audit("freshness").Params.__name__ == "FreshnessParams"


def test_unknown_audit_suggests_the_closest_name(query):
    with pytest.raises(UnknownNameError, match="Unknown audit 'columns_should_not_have_null'. Did you mean 'columns_should_not_have_nulls'"):
        run_audits([audit("columns_should_not_have_null", columns=["x"])], query, default_table="db.t")


def test_missing_param_is_a_spec_error_naming_it(query):
    with pytest.raises(SpecError, match=r"audits\[0\]\.params\.columns: missing required parameter 'columns'"):
        run_audits([audit("columns_should_not_have_nulls", table="db.t")], query)


def test_misspelled_param_suggests_the_right_one(query):
    with pytest.raises(SpecError, match="unknown parameter 'colums'.*did you mean 'columns'"):
        run_audits([audit("columns_should_not_have_nulls", colums=["x"])], query, default_table="db.t")


def test_wrong_param_type_is_a_spec_error(query):
    with pytest.raises(SpecError, match=r"params\.threshold: .*less than or equal to 1 \(got 95\)"):
        run_audits([audit("not_null_proportion", column="x", threshold=95)], query, default_table="db.t")


def test_table_is_required_without_a_default(query):
    with pytest.raises(SpecError, match="missing required field 'table'"):
        run_audits([audit("table_should_not_be_empty")], query)


def test_nulls_fail_with_count_and_sample(titles, query):
    result = one(audit("columns_should_not_have_nulls", table=titles, columns=["title_id", "country_code"]), query)
    assert not result.passed and result.failing_rows == 1
    assert result.sample == [{"date": dt.date(2024, 1, 2), "country_code": "BR", "title_id": None, "title_rank": 3}]
    assert result.message == "columns_should_not_have_nulls on db.titles: 1 row has NULL title_id or country_code"
    assert result.table == "db.titles" and result.blocking


def test_nulls_pass_when_the_where_slice_is_clean(titles, query):
    result = one(
        audit("columns_should_not_have_nulls", table=titles, columns=["title_id"], where="date = DATE '2024-01-01'"),
        query,
    )
    assert result.passed and result.failing_rows == 0 and result.sample == []
    assert result.message.endswith("passed")


def test_catalog_style_table_names_are_accepted(titles, query):
    result = one(audit("table_should_not_be_empty", table="prodhive/db/titles"), query)
    assert result.passed and result.table == "db.titles"


def test_composite_key_uniqueness_reports_duplicated_keys_with_counts(titles, query):
    result = one(audit("columns_should_be_unique", columns=["country_code", "title_id"]), query, default_table=titles)
    assert result.failing_rows == 3  # (US, 1), (US, 2) and (CA, 1) twice each; (BR, NULL) once
    assert sorted((r["country_code"], r["title_id"], r["duplicate_count"]) for r in result.sample) == [
        ("CA", 1, 2), ("US", 1, 2), ("US", 2, 2),
    ]
    assert "3 value(s) of (country_code, title_id) occur more than once" in result.message
    unique = one(audit("columns_should_be_unique", columns=["date", "country_code", "title_rank"]), query, default_table=titles)
    assert unique.passed


def test_row_count_between(titles, query):
    assert one(audit("row_count_between", min=1, max=7), query, default_table=titles).passed
    too_many = one(audit("row_count_between", max=5), query, default_table=titles)
    assert not too_many.passed and too_many.sample == [{"row_count": 7}]
    assert "row count 7 is outside [-inf, 5]" in too_many.message
    too_few = one(audit("row_count_between", min=4, where="date = DATE '2024-01-01'"), query, default_table=titles)
    assert not too_few.passed and too_few.sample == [{"row_count": 3}]


def test_row_count_between_needs_a_bound(query):
    with pytest.raises(SpecError, match="at least one of 'min' and 'max'"):
        run_audits([audit("row_count_between")], query, default_table="db.t")


def test_table_should_not_be_empty(titles, wh, query):
    assert one(audit("table_should_not_be_empty"), query, default_table=titles).passed
    empty_day = one(audit("table_should_not_be_empty", where="date = DATE '2024-01-03'"), query, default_table=titles)
    assert not empty_day.passed and empty_day.failing_rows == 1
    assert "has no rows (where date = DATE '2024-01-03')" in empty_day.message
    empty = wh.create("empty", pa.table({"x": pa.array([], pa.int64())}))
    assert not one(audit("table_should_not_be_empty"), query, default_table=empty).passed


def test_accepted_values(titles, query):
    assert one(audit("accepted_values", column="country_code", values=["US", "CA", "BR"]), query, default_table=titles).passed
    result = one(audit("accepted_values", column="country_code", values=["US", "CA"]), query, default_table=titles)
    assert result.failing_rows == 1 and result.sample[0]["country_code"] == "BR"
    assert "1 row has country_code not in ['US', 'CA'] (e.g. BR)" in result.message


def test_values_between_inclusive_and_exclusive(titles, query):
    assert one(audit("values_between", column="title_rank", min=1, max=3), query, default_table=titles).passed
    exclusive = one(audit("values_between", column="title_rank", min=1, max=3, inclusive=False), query, default_table=titles)
    assert exclusive.failing_rows == 5  # four rank-1 rows and one rank-3 row sit on the bounds
    assert "outside (1, 3)" in exclusive.message
    dates = one(audit("values_between", column="date", min="2024-01-02"), query, default_table=titles)
    assert dates.failing_rows == 3 and {r["date"] for r in dates.sample} == {dt.date(2024, 1, 1)}


def test_not_null_proportion(titles, query):
    assert one(audit("not_null_proportion", column="title_id", threshold=0.8), query, default_table=titles).passed
    result = one(audit("not_null_proportion", column="title_id", threshold=0.9), query, default_table=titles)
    assert not result.passed and result.sample[0]["row_count"] == 7
    assert result.sample[0]["not_null_proportion"] == pytest.approx(6 / 7)
    assert "only 85.71% of title_id values are not NULL (at least 90.00% required)" in result.message


def test_row_count_change_within_compares_with_previous_partition(titles, query):
    # 2024-01-02 has 4 rows, 2024-01-01 has 3: +33.3%
    params = {"partition_column": "date", "partition_value": "2024-01-02"}
    assert one(audit("row_count_change_within", percent=40, **params), query, default_table=titles).passed
    result = one(audit("row_count_change_within", percent=30, **params), query, default_table=titles)
    assert not result.passed and result.failing_rows == 1
    row = result.sample[0]
    assert (row["row_count"], row["previous_row_count"], row["previous_partition"]) == (4, 3, dt.date(2024, 1, 1))
    assert row["change_percent"] == pytest.approx(100 / 3)
    assert "+33.3% against 3 in date=2024-01-01 (allowed: ±30%)" in result.message


def test_row_count_change_within_detects_a_drop_to_zero(titles, query):
    result = one(
        audit("row_count_change_within", percent=50, partition_column="date", partition_value="2024-01-05"),
        query, default_table=titles,
    )
    assert result.sample[0]["row_count"] == 0 and result.sample[0]["change_percent"] == -100.0


def test_row_count_change_within_passes_without_a_previous_partition(titles, query):
    result = one(
        audit("row_count_change_within", percent=0, partition_column="date", partition_value="2024-01-01"),
        query, default_table=titles,
    )
    assert result.passed


def test_freshness(wh, query):
    events = wh.create("events", pa.table({"updated_at": [dt.datetime(2024, 1, 1, 6), dt.datetime(2024, 1, 2, 6)]}))
    as_of = "2024-01-03T00:00:00Z"
    assert one(audit("freshness", column="updated_at", max_age="24h", as_of=as_of), query, default_table=events).passed
    stale = one(audit("freshness", column="updated_at", max_age="12h", as_of=as_of), query, default_table=events)
    assert not stale.passed and stale.sample[0]["latest"] == dt.datetime(2024, 1, 2, 6)
    assert "older than the cutoff 2024-01-02 12:00:00" in stale.message
    age_now = (dt.datetime.now() - dt.datetime(2024, 1, 2, 6)).total_seconds()
    assert one(audit("freshness", column="updated_at", max_age=age_now + 86400), query, default_table=events).passed
    assert not one(audit("freshness", column="updated_at", max_age="1d"), query, default_table=events).passed  # as_of=now


def test_freshness_on_a_date_column_and_an_empty_slice(titles, query):
    ok = one(audit("freshness", column="date", max_age="2d", as_of="2024-01-03T12:00:00"), query, default_table=titles)
    assert ok.passed
    empty = one(
        audit("freshness", column="date", max_age="2d", where="country_code = 'XX'"), query, default_table=titles
    )
    assert not empty.passed and "has no values" in empty.message


def test_freshness_rejects_a_bad_duration(query):
    with pytest.raises(SpecError, match=r"params\.max_age: .*duration like '90m'"):
        run_audits([audit("freshness", column="c", max_age="soon")], query, default_table="db.t")


def test_custom_sql_returns_the_rows_of_your_query(titles, query):
    sql = "SELECT * FROM db.titles WHERE title_rank > 2"
    result = one(audit("custom_sql", sql=sql), query)
    assert result.failing_rows == 1 and result.sample[0]["country_code"] == "BR"
    assert result.message == "custom_sql on custom SQL: the custom query returned 1 failing rows"
    assert one(audit("custom_sql", sql=sql, where="country_code <> 'BR'"), query).passed


def test_custom_sql_is_transpiled_from_the_workflow_dialect(titles, query):
    # Spark's backticks and `NVL` become DuckDB SQL.
    sql = "SELECT `title_id` FROM db.titles WHERE NVL(title_id, -1) = -1"
    result = one(audit("custom_sql", sql=sql), query, dialect="spark")
    assert result.failing_rows == 1 and result.sample == [{"title_id": None}]


def test_custom_sql_must_be_a_query(query):
    with pytest.raises(SpecError, match="exactly one SELECT"):
        run_audits([audit("custom_sql", sql="DELETE FROM db.titles")], query)
    with pytest.raises(SpecError, match=r"params\.sql: invalid SQL"):
        run_audits([audit("custom_sql", sql="SELECT * FROM (")], query)


def test_bad_where_is_a_spec_error(titles, query):
    with pytest.raises(SpecError, match=r"params\.where: invalid SQL condition"):
        run_audits([audit("table_should_not_be_empty", where="date = = 1")], query, default_table=titles)


def test_an_audit_the_engine_cannot_run_names_audit_table_and_sql(titles, query):
    with pytest.raises(AuditError, match=r"audit columns_should_not_have_nulls on db.titles could not run: .*nope(.|\n)*SQL: SELECT"):
        run_audits([audit("columns_should_not_have_nulls", columns=["nope"])], query, default_table=titles)


def test_failing_rows_are_counted_in_the_engine_and_only_a_sample_is_fetched(wh, query):
    big = wh.create("big", pa.table({"x": pa.array([None] * 10_000, pa.int64())}))
    result = one(audit("columns_should_not_have_nulls", columns=["x"]), query, default_table=big, sample_size=3)
    assert result.failing_rows == 10_000 and len(result.sample) == 3
    assert any("COUNT(*)" in q for q in wh.queries) and any(q.endswith("LIMIT 3") for q in wh.queries)


def test_audits_that_pass_cost_one_engine_query_together(titles, wh, query):
    specs = [
        audit("table_should_not_be_empty"),
        audit("columns_should_not_have_nulls", columns=["country_code"]),
        audit("accepted_values", column="country_code", values=["US", "CA", "BR"]),
    ]
    results = run_audits(specs, query, default_table=titles)
    assert [r.passed for r in results] == [True, True, True]
    assert len(wh.queries) == 1  # the three counts in one query: one bind, one scan plan, one round trip


def test_audits_counted_together_fetch_samples_only_for_the_failing_ones(titles, wh, query):
    specs = [
        audit("table_should_not_be_empty"),
        audit("columns_should_not_have_nulls", columns=["title_id"]),
        audit("accepted_values", column="country_code", values=["US"]),
    ]
    empty, nulls, values = run_audits(specs, query, default_table=titles)
    assert empty.passed and (nulls.failing_rows, values.failing_rows) == (1, 3)
    assert nulls.sample == [{"date": dt.date(2024, 1, 2), "country_code": "BR", "title_id": None, "title_rank": 3}]
    assert sorted(r["country_code"] for r in values.sample) == ["BR", "CA", "CA"]
    assert len(wh.queries) == 3  # the counts together, then one sample query per failing audit


def test_a_broken_audit_among_others_is_named_in_the_error(titles, query):
    specs = [audit("table_should_not_be_empty"), audit("columns_should_not_have_nulls", columns=["nope"])]
    with pytest.raises(AuditError, match=r"audit columns_should_not_have_nulls on db.titles could not run: .*nope"):
        run_audits(specs, query, default_table=titles)


def test_every_result_keeps_name_blocking_and_sql(titles, query):
    specs = [
        AuditSpec(function="table_should_not_be_empty", name="has_rows", blocking=False),
        {"function": "accepted_values", "params": {"column": "country_code", "values": ["US"]}},
    ]
    first, second = run_audits(specs, query, default_table=titles)
    assert (first.name, first.blocking, first.passed) == ("has_rows", False, True)
    assert (second.name, second.passed, second.failing_rows) == ("accepted_values", False, 3)
    assert query(second.sql).num_rows == 3  # `sql` reproduces every failing row


def test_failure_report_names_failing_blocking_audits_branch_and_samples(titles, query):
    results = run_audits(
        [
            audit("columns_should_not_have_nulls", columns=["title_id"]),
            {"function": "accepted_values", "blocking": False, "params": {"column": "country_code", "values": ["US"]}},
            audit("table_should_not_be_empty"),
        ],
        query, default_table=titles,
    )
    text = failure_report(results, table="db.titles", branch="wap_2024_01_02_ab12")
    assert "1 blocking audit(s) failed on branch 'wap_2024_01_02_ab12' of db.titles" in text
    assert "1 row has NULL title_id" in text and "'country_code': 'BR'" in text
    assert "accepted_values" not in text
    assert "kept for inspection" in text


def test_a_plan_is_kept_for_the_same_spec_and_built_again_for_a_different_one():
    from towpath.audits.runner import _Planned

    def plan(spec: dict[str, object]) -> _Planned:
        return _Planned.of(AuditSpec.model_validate(spec), default_table="db.t", dialect="duckdb", label="audits[0]")

    on_day = audit("row_count_change_within", percent=20, partition_column="date", partition_value=dt.date(2024, 1, 2))
    assert plan(on_day) is plan(on_day)
    as_text = audit("row_count_change_within", percent=20, partition_column="date", partition_value="2024-01-02")
    assert plan(as_text) is not plan(on_day)  # the same JSON, another value: never taken for the other
    assert plan(as_text).spec.params["partition_value"] == "2024-01-02"
    assert plan({**on_day, "blocking": False}) is not plan(on_day)
    opaque = audit("columns_should_not_have_nulls", columns=["title_id"], where=object())
    with pytest.raises(SpecError):  # built each time (not kept), and still checked
        plan(opaque)
