"""Built-in transforms and validation, asserted on the rows that come out and the errors routed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from towpath.errors import PipelineError
from towpath.pipeline import (
    Batcher,
    Cast,
    Check,
    Collect,
    Dedupe,
    Filter,
    Map,
    OneOf,
    Pipeline,
    Range,
    Regex,
    Rename,
    Required,
    RowCheck,
    Select,
    Sql,
    TableSource,
    Type,
    Validate,
    row_processor,
    step,
)


def run(table: pa.Table, *processors, batch_rows: int = 3, errors=None) -> tuple[pa.Table, Pipeline]:
    sink = Collect()
    pipeline = Pipeline([TableSource(table, batch_rows=batch_rows), *processors, sink], errors=errors)
    pipeline.run()
    assert sink.table is not None
    return sink.table, pipeline


PEOPLE = pa.table({
    "id": [1, 2, 3, 4, 5, 6],
    "email": ["a@x.io", "nope", None, "d@x.io", "e@x.io", "  "],
    "age": ["34", "200", "41", "x", "27", "30"],
    "country": ["SG", "MY", "SG", "ID", "FR", "SG"],
})


def test_validate_routes_bad_rows_with_every_reason_and_keeps_the_good_ones(tmp_path: Path) -> None:
    errors = tmp_path / "errors.jsonl"
    validate = Validate(
        Required("email"),
        Regex("email", r"[^@\s]+@[^@\s]+"),
        Type("age", "int64"),
        Range("age", min=0, max=120),
        OneOf("country", ["SG", "MY", "ID"]),
        error_sink=str(errors),
    )
    good, pipeline = run(PEOPLE, validate)
    assert good.column("id").to_pylist() == [1]
    records = [json.loads(line) for line in errors.read_text().splitlines()]
    by_id = {json.loads(r["row"])["id"]: r["reason"] for r in records}
    assert by_id == {
        2: "regex: email ~ [^@\\s]+@[^@\\s]+; range: age in [0, 120]",
        3: "required: email",
        4: "type: age as int64; range: age in [0, 120]",
        5: "allowed: country in ['SG', 'MY', 'ID']",
        6: "required: email; regex: email ~ [^@\\s]+@[^@\\s]+",
    }
    assert {r["processor"] for r in records} == {"validate"}
    assert json.loads(records[0]["row"]) == {"id": 2, "email": "nope", "age": "200", "country": "MY"}
    stats = pipeline.stats()
    assert stats.processor("validate").rows_error == 5 and stats.rows_error == 5


def test_raw_text_is_validated_as_numbers_and_required_names_only_the_missing_columns() -> None:
    raw = pa.table({"id": ["1", "2", None, "4"], "email": ["a@b.c", "", None, "d@e.f"],
                    "amount": ["10.5", "-1", "ten", "7"]})
    validate = Validate(Required("id", "email"), Range("amount", min=0))
    good, pipeline = run(raw, validate)
    assert good.column("id").to_pylist() == ["1", "4"]
    reasons = pipeline.errors.table().column("reason").to_pylist()
    assert reasons == ["required: email; range: amount in [0, inf]", "required: id, email; range: amount in [0, inf]"]


def test_custom_checks_vectorised_and_per_row_and_a_callback_error_sink() -> None:
    routed: list[pa.Table] = []
    table = pa.table({"lo": [1, 5, 3], "hi": [2, 4, 3]})
    validate = Validate(
        Check(lambda b: pc.less(b.column("lo"), b.column("hi")), name="lo_below_hi"),
        RowCheck(lambda row: row["hi"] != 4, name="hi_not_4"),
        error_sink=routed.append,
    )
    good, _ = run(table, validate)
    assert good.to_pylist() == [{"lo": 1, "hi": 2}]
    reasons = pa.concat_tables(routed).column("reason").to_pylist()
    assert reasons == ["check: lo_below_hi; check: hi_not_4", "check: lo_below_hi"]


def test_cast_routes_rows_that_do_not_cast_and_converts_the_rest() -> None:
    table = pa.table({"id": [1, 2, 3, 4], "amount": ["1.5", "abc", None, "7"], "day": ["2024-01-02", "2024-01-03",
                                                                                       "soon", "2024-02-30"]})
    good, pipeline = run(table, Cast({"amount": "float64", "day": "date32"}), batch_rows=4)
    assert good.schema.field("amount").type == pa.float64() and good.schema.field("day").type == pa.date32()
    assert good.to_pylist() == [{"id": 1, "amount": 1.5, "day": __import__("datetime").date(2024, 1, 2)}]
    errors = pipeline.errors.table().to_pylist()
    assert [(json.loads(e["row"])["id"], e["reason"]) for e in errors] == [
        (2, "cast: amount is not a valid double"),
        (3, "cast: day is not a valid date32[day]"),
        (4, "cast: day is not a valid date32[day]"),
    ]
    assert pipeline.stats().processor("cast").rows_error == 3


def test_cast_never_rounds_text_into_integers_or_decimals() -> None:
    table = pa.table({"qty": ["3", "1.5", " 7 ", "x"], "price": ["1.23", "1.234", "5", "2.50"]})
    good, pipeline = run(table, Cast({"qty": "int32", "price": "decimal(10,2)"}), batch_rows=4)
    assert good.column("qty").to_pylist() == [3, 7]
    assert [str(p) for p in good.column("price").to_pylist()] == ["1.23", "5.00"]
    errors = [(json.loads(e["row"])["qty"], e["reason"]) for e in pipeline.errors.table().to_pylist()]
    assert [qty for qty, _ in errors] == ["1.5", "x"]
    assert "qty is not a valid int32" in errors[0][1] and "price is not a valid decimal" in errors[0][1]


def test_filter_with_sql_or_arrow_expression_keeps_schema() -> None:
    table = pa.table({"id": pa.array([1, 2, 3, 4], pa.int32()), "name": ["a", None, "c", "d"]})
    by_sql, _ = run(table, Filter("id % 2 = 0 OR name = 'c'"))
    assert by_sql.column("id").to_pylist() == [2, 3, 4] and by_sql.schema == table.schema
    by_arrow, _ = run(table, Filter(pc.field("id") > 2))
    assert by_arrow.column("id").to_pylist() == [3, 4]
    by_mask, _ = run(table, Filter(lambda b: pc.equal(b.column("name"), "c")))
    assert by_mask.column("id").to_pylist() == [3]  # the null name is dropped, as in SQL


def test_sql_runs_per_batch_with_one_connection_per_worker() -> None:
    table = pa.table({"id": list(range(100)), "v": [i * 2 for i in range(100)]})
    out, _ = run(table, step(Sql("SELECT id, v + 1 AS w FROM batch WHERE id >= 10"), concurrency=3), batch_rows=7)
    assert out.column_names == ["id", "w"]
    assert out.column("id").to_pylist() == list(range(10, 100))
    assert out.column("w").to_pylist() == [i * 2 + 1 for i in range(10, 100)]


def test_sql_errors_are_clear() -> None:
    with pytest.raises(PipelineError, match="Sql: cannot parse"):
        Sql("SELEC nonsense FROM (")
    with pytest.raises(PipelineError, match="DuckDB could not run"):
        run(pa.table({"id": [1]}), Sql("SELECT missing_column FROM batch"))


def test_dedupe_keeps_the_first_row_per_key_across_batches() -> None:
    table = pa.table({"k1": [1, 2, 1, 3, 2, 1, 4, 4], "k2": ["a", "b", "a", "c", "x", "a", "d", "d"],
                      "seq": list(range(8))})
    out, _ = run(table, Dedupe(["k1", "k2"]), batch_rows=3)
    assert out.column("seq").to_pylist() == [0, 1, 3, 4, 6]


def test_dedupe_over_many_batches_matches_a_set() -> None:
    keys = [(i * 7919) % 1000 for i in range(5000)]
    out, _ = run(pa.table({"k": keys, "seq": list(range(5000))}), Dedupe(["k"]), batch_rows=64)
    first: dict[int, int] = {}
    for seq, key in enumerate(keys):
        first.setdefault(key, seq)
    assert out.column("seq").to_pylist() == sorted(first.values())


def test_batcher_rechunks_to_exact_sizes() -> None:
    sink = Collect()
    Pipeline([TableSource(pa.table({"id": list(range(23))}), batch_rows=4), Batcher(10), sink]).run()
    assert [b.num_rows for b in sink.batches] == [10, 10, 3]
    assert sink.table.column("id").to_pylist() == list(range(23))


def test_select_rename_map_and_row_processor() -> None:
    @row_processor
    def greet(row):
        return None if row["who"] == "skip" else {"greeting": f"hi {row['who']}"}

    table = pa.table({"name": ["ada", "skip", "bob"], "x": [1, 2, 3]})
    out, _ = run(table, Select(["name"]), Rename({"name": "who"}), greet(),
                 Map(lambda b: pa.record_batch({"greeting": pc.utf8_upper(b.column("greeting"))})))
    assert out.column("greeting").to_pylist() == ["HI ADA", "HI BOB"]
    with pytest.raises(PipelineError, match="column\\(s\\) 'nope' not in the batch"):
        run(table, Select(["nope"]))


def test_dedupe_without_numpy_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from towpath.errors import NotInstalledError

    monkeypatch.setitem(sys.modules, "numpy", None)  # what a default install (no numpy) looks like
    with pytest.raises(PipelineError, match=r"pip install 'towpath\[dedupe\]'") as info:
        run(pa.table({"id": [1, 1]}), Dedupe(["id"]))
    assert isinstance(info.value.__cause__, NotInstalledError)
