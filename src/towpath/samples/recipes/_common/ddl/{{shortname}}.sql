CREATE TABLE IF NOT EXISTS ${TARGET_DB}.${TARGET_TABLE} (
title_id INT COMMENT "Title ID of the movie or show."
, country_code STRING COMMENT "Country code of the playback session."
, title_rank INT COMMENT "Rank of a given title in a given country."
, view_hours DOUBLE COMMENT "Total viewing hours of a given title in a given country."
)
COMMENT
"Example dataset brought to you by towpath. For more information on this
and other examples please visit the towpath documentation."
PARTITIONED BY (
date DATE COMMENT "Playback date."
)
STORED AS ICEBERG;
