"""Top 100 titles per country for one day: the seed's PySpark DataFrame code.

A `pyspark` job on the Spark engine (`engine: spark` in towpath.yaml): `ctx.table(name)`
is a Spark DataFrame of a catalog table, and the DataFrame returned is written to the
job's `target` through the catalog's Write-Audit-Publish branch, replacing the day's
partition (`mode: dynamic_overwrite` in main.sch.yaml).
"""

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from towpath.workflows.context import JobContext

TOP_N = 100


def transform(ctx: JobContext) -> DataFrame:
    date = dt.date.fromisoformat(ctx.params["DATE"])
    source_table_df = ctx.table(ctx.params["SOURCE_TABLE"])

    viewing_by_title_country = (
        source_table_df.select("title_id", "country_code", "view_hours", "date")
        .filter(F.col("date") == F.lit(date))
        .filter("title_id IS NOT NULL AND view_hours > 0")
        .groupBy("title_id", "country_code")
        .agg(F.round(F.sum("view_hours"), 3).alias("view_hours"))  # rounded, so reruns and engines agree
    )

    window = Window.partitionBy("country_code").orderBy(F.col("view_hours").desc())

    ranked_viewing_by_title_country = viewing_by_title_country.withColumn("title_rank", F.rank().over(window))

    top_titles: DataFrame = (
        ranked_viewing_by_title_country.filter(F.col("title_rank") <= TOP_N)
        .withColumn("date", F.lit(date))
        .select("title_id", "country_code", "title_rank", "view_hours", "date")
    )
    return top_titles
