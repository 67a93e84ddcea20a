-- Top 100 titles per country for one day, in DuckDB SQL. The job's `target` and
-- `mode: dynamic_overwrite` (main.sch.yaml) replace the day's partition with this result.
WITH view_hours_by_title AS (
    SELECT
        title_id
        , country_code
        , ROUND(SUM(view_hours), 3) AS view_hours  -- rounded: parallel float sums differ in the last bits
    FROM ${SOURCE_TABLE}
    WHERE date = DATE '${DATE}'
      AND title_id IS NOT NULL
      AND view_hours > 0
    GROUP BY ALL
)
SELECT
    title_id
    , country_code
    , RANK() OVER (PARTITION BY country_code ORDER BY view_hours DESC) AS title_rank
    , view_hours
    , DATE '${DATE}' AS date
FROM view_hours_by_title
QUALIFY title_rank <= 100;
