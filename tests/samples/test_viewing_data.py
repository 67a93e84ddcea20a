"""The synthetic viewing sessions behind the samples and the demo: deterministic, and shaped like viewing."""

from __future__ import annotations

import duckdb

from towpath.samples import COUNTRY_CODES, generate_viewing_day


def test_a_seed_and_date_always_give_the_same_rows_and_another_date_other_rows():
    day = generate_viewing_day("2022-01-01", 20_000)
    assert day.equals(generate_viewing_day("2022-01-01", 20_000))
    assert not day.column("view_hours").equals(generate_viewing_day("2022-01-02", 20_000).column("view_hours"))


def test_every_country_has_a_top_100_and_session_length_does_not_depend_on_the_title():
    day = generate_viewing_day("2022-01-01", 200_000)
    con = duckdb.connect()
    con.register("day", day)
    titles = con.sql("SELECT count(DISTINCT title_id) AS n FROM day GROUP BY country_code").fetchall()
    assert len(titles) == len(COUNTRY_CODES) and min(n for (n,) in titles) >= 100
    [(corr, hours)] = con.sql(
        "SELECT corr(title_id, view_hours), avg(view_hours) FROM day WHERE view_hours > 0"
    ).fetchall()
    assert abs(corr) < 0.02 and 1.3 < hours < 1.6
