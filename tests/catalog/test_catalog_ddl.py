"""`apply_ddl`: the seed's Spark DDL works as written; reruns are no-ops; drift is reported."""

from __future__ import annotations

import pytest
from catalog_data import RESULTS, SEED_DDL
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
)

from towpath.catalog import Catalog, DdlError, apply_ddl
from towpath.errors import CatalogError, SchemaMismatchError


def test_seed_ddl_creates_table_with_docs_comment_and_partition(catalog: Catalog) -> None:
    result = apply_ddl(catalog, SEED_DDL)
    assert (result.identifier, result.action) == (RESULTS, "created")
    table = catalog.table(RESULTS)
    fields = table.schema().fields
    assert [(f.name, f.field_type, f.doc) for f in fields] == [
        ("title_id", IntegerType(), "Title ID of the movie or show."),
        ("country_code", StringType(), "Country code of the playback session."),
        ("title_rank", IntegerType(), "Rank of a given title in a given country."),
        ("view_hours", DoubleType(), "Total viewing hours of a given title in a given country."),
        ("date", DateType(), "Playback date."),
    ]
    assert not any(f.required for f in fields)
    assert table.properties["comment"].startswith("Example dataset brought to you by Dataflow.")
    assert "and other examples please visit the Dataflow documentation page." in table.properties["comment"]
    [partition] = table.spec().fields
    assert (table.schema().find_column_name(partition.source_id), str(partition.transform)) == ("date", "identity")
    assert "foo" in [ns[0] for ns in catalog.iceberg.list_namespaces()]


def test_rerunning_the_same_ddl_is_a_no_op(catalog: Catalog) -> None:
    apply_ddl(catalog, SEED_DDL)
    before = catalog.table(RESULTS).metadata_location
    assert apply_ddl(catalog, SEED_DDL).action == "unchanged"
    assert catalog.table(RESULTS).metadata_location == before


def test_differing_ddl_names_each_difference(catalog: Catalog) -> None:
    apply_ddl(catalog, SEED_DDL)
    changed = SEED_DDL.replace("title_rank INT", "title_rank STRING").replace(
        ", view_hours DOUBLE", ", view_hours DOUBLE, country_name STRING"
    )
    with pytest.raises(SchemaMismatchError) as err:
        apply_ddl(catalog, changed)
    message = str(err.value)
    assert "title_rank" in message and "type changed" in message
    assert "country_name" in message and "added" in message
    dropped = SEED_DDL.replace(', country_code STRING COMMENT "Country code of the playback session."\n', "")
    with pytest.raises(SchemaMismatchError, match="'country_code' is in the table but missing from the DDL"):
        apply_ddl(catalog, dropped)
    assert [f.name for f in catalog.table(RESULTS).schema().fields][1] == "country_code"


def test_additive_change_fails_without_evolution_and_applies_with_it(catalog: Catalog) -> None:
    apply_ddl(catalog, "CREATE TABLE IF NOT EXISTS db.t (id INT, score FLOAT) PARTITIONED BY (id)")
    wider = "CREATE TABLE IF NOT EXISTS db.t (id INT, score DOUBLE, note STRING COMMENT 'why') PARTITIONED BY (id)"
    with pytest.raises(SchemaMismatchError, match="allow_evolution"):
        apply_ddl(catalog, wider)
    assert [f.name for f in catalog.table("db.t").schema().fields] == ["id", "score"]
    result = apply_ddl(catalog, wider, allow_evolution=True)
    assert (result.action, result.added_columns, result.promoted_columns) == ("evolved", ["note"], ["score"])
    schema = catalog.table("db.t").schema()
    assert schema.find_field("score").field_type == DoubleType()
    assert (schema.find_field("note").field_type, schema.find_field("note").doc) == (StringType(), "why")
    assert apply_ddl(catalog, wider).action == "unchanged"


def test_evolution_still_refuses_non_additive_changes(catalog: Catalog) -> None:
    apply_ddl(catalog, "CREATE TABLE IF NOT EXISTS db.t (id BIGINT, name STRING)")
    with pytest.raises(SchemaMismatchError, match="'id' type changed"):
        apply_ddl(catalog, "CREATE TABLE IF NOT EXISTS db.t (id INT, name STRING)", allow_evolution=True)
    with pytest.raises(SchemaMismatchError, match="NOT NULL and cannot be added"):
        apply_ddl(catalog, "CREATE TABLE IF NOT EXISTS db.t (id BIGINT, name STRING, k INT NOT NULL)",
                  allow_evolution=True)
    assert [f.name for f in catalog.table("db.t").schema().fields] == ["id", "name"]


def test_existing_table_without_if_not_exists_is_an_error(catalog: Catalog) -> None:
    apply_ddl(catalog, SEED_DDL)
    with pytest.raises(SchemaMismatchError, match="already exists; use CREATE TABLE IF NOT EXISTS"):
        apply_ddl(catalog, SEED_DDL.replace("IF NOT EXISTS ", ""))


def test_every_common_type_round_trips(catalog: Catalog) -> None:
    apply_ddl(
        catalog,
        """CREATE TABLE db.types (
            i INT NOT NULL, ii INTEGER, s SMALLINT, t TINYINT, b BIGINT, l LONG, f FLOAT, d DOUBLE,
            dec DECIMAL(12, 3), str STRING, vc VARCHAR(10), c CHAR(2), flag BOOLEAN, day DATE,
            ts TIMESTAMP, ntz TIMESTAMP_NTZ, bin BINARY, arr ARRAY<INT>, m MAP<STRING, DOUBLE>,
            st STRUCT<a: INT, b: STRING>
        ) USING iceberg TBLPROPERTIES ('owner.team' = 'content', 'write.parquet.compression-codec' = 'zstd')""",
    )
    table = catalog.table("db.types")
    types = {f.name: f.field_type for f in table.schema().fields}
    assert types["i"] == types["ii"] == types["s"] == types["t"] == IntegerType()
    assert types["b"] == types["l"] == LongType()
    assert (types["f"], types["d"], types["dec"]) == (FloatType(), DoubleType(), DecimalType(12, 3))
    assert types["str"] == types["vc"] == types["c"] == StringType()
    assert (types["flag"], types["day"], types["bin"]) == (BooleanType(), DateType(), BinaryType())
    assert (types["ts"], types["ntz"]) == (TimestamptzType(), TimestampType())
    assert isinstance(types["arr"], ListType) and types["arr"].element_type == IntegerType()
    assert isinstance(types["m"], MapType) and (types["m"].key_type, types["m"].value_type) == (StringType(), DoubleType())
    assert isinstance(types["st"], StructType) and [f.name for f in types["st"].fields] == ["a", "b"]
    assert table.schema().find_field("i").required and not table.schema().find_field("ii").required
    assert table.properties["owner.team"] == "content"
    assert table.properties["write.parquet.compression-codec"] == "zstd"


def test_partition_transforms(catalog: Catalog) -> None:
    apply_ddl(
        catalog,
        "CREATE TABLE db.events (id BIGINT, ts TIMESTAMP, name STRING, region STRING) USING iceberg "
        "PARTITIONED BY (days(ts), bucket(16, id), truncate(name, 4), region)",
    )
    apply_ddl(catalog, "CREATE TABLE db.coarse (ts TIMESTAMP, t2 TIMESTAMP, t3 TIMESTAMP) "
                       "PARTITIONED BY (years(ts), months(t2), hours(t3))")
    for ident, expected in {
        "db.events": [("ts", "day", "ts_day"), ("id", "bucket[16]", "id_bucket_16"),
                      ("name", "truncate[4]", "name_trunc_4"), ("region", "identity", "region")],
        "db.coarse": [("ts", "year", "ts_year"), ("t2", "month", "t2_month"), ("t3", "hour", "t3_hour")],
    }.items():
        table = catalog.table(ident)
        got = [(table.schema().find_column_name(p.source_id), str(p.transform), p.name) for p in table.spec().fields]
        assert got == expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE db.t (id INT", "cannot parse the DDL"),
        ("SELECT 1", "expected a CREATE TABLE statement"),
        ("CREATE TABLE t (id INT)", "must be qualified as 'namespace.table'"),
        ("CREATE TABLE db.t (id INT) USING parquet", "towpath tables are Iceberg tables"),
        ("CREATE TABLE db.t (id INT) PARTITIONED BY (nope)", "unknown column 'nope'"),
        ("CREATE TABLE db.t (id GEOGRAPHY)", "unsupported type"),
        ("CREATE TABLE db.t AS SELECT 1 AS id", "AS SELECT is not supported"),
        ("CREATE TABLE db.t (id INT); CREATE TABLE db.u (id INT)", "exactly one CREATE TABLE"),
    ],
)
def test_unsupported_ddl_is_a_clear_catalog_error(catalog: Catalog, sql: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as err:
        apply_ddl(catalog, sql)
    assert isinstance(err.value, DdlError)
    assert not catalog.exists("db.t")
