"""Realistic synthetic viewing sessions for the Dataflow sample's source table.

About 190 real ISO country codes with skewed audience sizes, thousands of
titles with Zipf-like popularity (a few hits, a long tail), sessions spread
over days, a little dirt (null title ids, zero or negative hours) for the
transform to ignore. Deterministic for a seed and date; vectorised in DuckDB, no numpy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pyarrow as pa

_COUNTRY_BLOCK = (
    "US BR MX GB CA FR DE ES IT AR CO CL PE JP KR IN AU NL SE TR PL PH ID TH MY VN TW "
    "EG SA AE ZA NG KE MA DZ TN IL IE PT BE CH AT DK NO FI CZ HU RO GR UA NZ SG HK EC "
    "VE GT CR PA DO UY PY BO SV HN NI JM TT PR BS BB BZ GY SR HT CU KZ UZ GE AM AZ RS "
    "HR SI SK BG LT LV EE IS LU MT CY AL MK BA ME MD BY QA KW BH OM JO LB IQ PK BD LK "
    "NP MM KH LA MN BN MO FJ PG NC PF GH CI SN CM AO MZ ZM ZW UG TZ RW ET BW NA MU MG "
    "LY SD GA CG CD BJ BF ML NE TD GN SL LR GM GW CV MR ER DJ SO SS CF GQ ST KM SC LS "
    "SZ MW BI TG AD MC SM LI VA GL FO AW CW SX KY BM VG VI TC AG DM GD KN LC VC AI MS "
    "GU "
)
COUNTRY_CODES: tuple[str, ...] = tuple(_COUNTRY_BLOCK.split())
"""190 ISO 3166-1 alpha-2 codes, biggest audiences first."""

SCHEMA = pa.schema(
    [
        pa.field("session_id", pa.int64(), nullable=False),
        pa.field("profile_id", pa.int64()),
        pa.field("title_id", pa.int32()),
        pa.field("country_code", pa.string()),
        pa.field("device_type", pa.string()),
        pa.field("view_hours", pa.float64()),
        pa.field("date", pa.date32()),
    ]
)

DEVICES: tuple[str, ...] = ("tv", "mobile", "tablet", "browser", "console")
TITLE_ID_BASE = 10_000_000

# One query draws every column of a day. `u(k)` is a uniform in [0, 1) from a 64-bit hash of
# (seed, day, 8 * row + k): counter-based, so the result does not depend on DuckDB's thread count.
_DAY_SQL = """
WITH countries AS (
  SELECT unnest($codes) AS code, unnest($starts) AS start, unnest($counts) AS n,
         unnest(range(len($codes))) AS ci
), sessions AS (
  SELECT code, ci, start + unnest(range(n)) AS i FROM countries
), draws AS (
  SELECT i, code,
    hash($seed, $day, i * 8 + 1) / 18446744073709551616.0 AS u1,
    hash($seed, $day, i * 8 + 2) / 18446744073709551616.0 AS u2,
    hash($seed, $day, i * 8 + 3) / 18446744073709551616.0 AS u3,
    hash($seed, $day, i * 8 + 4) / 18446744073709551616.0 AS u4,
    hash($seed, $day, i * 8 + 5) / 18446744073709551616.0 AS u5,
    hash($seed, $day, i * 8 + 6) AS h6, hash($seed, $day, i * 8 + 7) AS h7,
    hash($seed, $day, ci * 8 - 1) % $titles AS shift
  FROM sessions
), ranked AS (
  SELECT *,
    -- Zipf-like popularity P(rank k) ~ 1/k^1.1 by inverting the continuous power law's CDF.
    least(floor(pow(1 - u1 * (1 - pow($titles + 1, -0.1)), -10))::BIGINT - 1, $titles - 1) AS rank,
    -- a Gamma(1.6, 0.9)-like session length: the sum of two exponentials with mean 1.44 h
    round(-0.9 * (ln(1 - u2) + 0.6 * ln(1 - u3)), 3) AS hours
  FROM draws
)
SELECT
  $session_base + i AS session_id,
  (1 + h6 % 49999999)::BIGINT AS profile_id,
  -- the top 20 are global hits; the long tail is shuffled per country so top lists differ
  CASE WHEN u5 < 0.002 THEN NULL
       ELSE $title_base + (CASE WHEN rank < 20 THEN rank ELSE (rank + shift) % $titles END) * 7 + 1 END
    AS title_id,
  code AS country_code,
  $devices[(1 + h7 % len($devices))::BIGINT] AS device_type,
  CASE WHEN u4 < 0.003 THEN -hours WHEN u4 < 0.006 THEN 0.0 ELSE hours END AS view_hours,
  $date AS date
FROM ranked
ORDER BY i
"""


def generate_viewing_day(
    date: dt.date | str,
    rows: int = 200_000,
    *,
    titles: int = 5_000,
    seed: int = 42,
    min_sessions_per_country: int = 400,
) -> pa.Table:
    """One day of sessions as an Arrow table with `SCHEMA`, drawn by one vectorised DuckDB query.

    >>> generate_viewing_day("2022-01-01", 1_000).num_rows >= 190 * 400
    True
    """
    import duckdb

    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    # Audience sizes fall off with rank; every country gets enough sessions for a top 100.
    weights = [1.0 / rank**0.9 for rank in range(1, len(COUNTRY_CODES) + 1)]
    spread = max(rows - min_sessions_per_country * len(COUNTRY_CODES), 0)
    counts = [int(w / sum(weights) * spread) + min_sessions_per_country for w in weights]
    starts = [sum(counts[:k]) for k in range(len(counts))]
    params = {
        "codes": list(COUNTRY_CODES), "starts": starts, "counts": counts, "seed": seed,
        "day": day.toordinal(), "titles": titles, "session_base": day.toordinal() * 10_000_000,
        "title_base": TITLE_ID_BASE, "devices": list(DEVICES), "date": day,
    }
    with duckdb.connect() as con:
        drawn = con.sql(_DAY_SQL, params=params).to_arrow_table()
    return pa.Table.from_arrays([drawn.column(f.name).cast(f.type) for f in SCHEMA], schema=SCHEMA)


def generate_viewing_days(dates: Iterable[dt.date | str], rows_per_day: int = 200_000, *, seed: int = 42) -> pa.Table:
    """Several days of sessions in one table."""
    return pa.concat_tables(generate_viewing_day(d, rows_per_day, seed=seed) for d in dates)


SOURCE_DDL = """\
CREATE TABLE IF NOT EXISTS {table} (
  session_id BIGINT NOT NULL COMMENT "Playback session id."
, profile_id BIGINT COMMENT "Profile that watched."
, title_id INT COMMENT "Title ID of the movie or show."
, country_code STRING COMMENT "Country code of the playback session."
, device_type STRING COMMENT "Device family."
, view_hours DOUBLE COMMENT "Hours watched in the session."
)
COMMENT "Synthetic viewing sessions generated by towpath for the sample workflows."
PARTITIONED BY (date DATE COMMENT "Playback date.")
STORED AS ICEBERG
"""
