-- Top 100 titles per country for one day, in three steps (Spark SQL).
INSERT OVERWRITE TABLE ${TARGET_DB}.${TARGET_TABLE}
WITH STEP_1 AS (
    SELECT
        title_id
        , country_code
        , ROUND(SUM(view_hours), 3) AS view_hours  -- rounded: parallel float sums differ in the last bits
    FROM ${SOURCE_TABLE}
    WHERE date = DATE '${DATE}'
      AND title_id IS NOT NULL
      AND view_hours > 0
    GROUP BY
        title_id
        , country_code
),
STEP_2 AS (
    SELECT
        title_id
        , country_code
        , view_hours
        , RANK() OVER (
            PARTITION BY country_code
            ORDER BY view_hours DESC
        ) AS title_rank
    FROM STEP_1
),
STEP_3 AS (
    SELECT
        title_id
        , country_code
        , view_hours
        , title_rank
    FROM STEP_2
    WHERE title_rank <= 100
)
SELECT
    title_id
    , country_code
    , title_rank
    , view_hours
    , DATE '${DATE}' AS date
FROM STEP_3;
