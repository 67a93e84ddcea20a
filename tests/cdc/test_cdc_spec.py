"""`*.cdc.yaml` mistakes are errors at file:line naming the field, before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from towpath.cdc import load_cdc_spec
from towpath.errors import SpecError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.cdc.yaml"
    path.write_text(text)
    return path


GOOD = ("name: patients\nsource: {type: postgres, dsn: '${CDC_SPEC_DSN}', table: public.patients}\n"
        "targets:\n  - {type: iceberg, table: lake.patients, partition_by: ['bucket(8, id)', 'day(seen)']}\n"
        "  - {type: search, index: patients}\n")


def test_a_good_spec_reads_with_its_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_SPEC_DSN", "postgresql://u:secret@h/db")
    spec = load_cdc_spec(write(tmp_path, GOOD))
    assert spec.slot == "towpath_patients" and spec.publication == "towpath_patients"
    assert spec.source.dsn == "postgresql://u:secret@h/db" and spec.batch.max_rows == 50_000


@pytest.mark.parametrize(("change", "where"), [
    (("type: postgres", "type: oracle"), r"p.cdc.yaml:2:\d+: source.type"),
    (("bucket(8, id)", "bucket(id)"), r"p.cdc.yaml:4:\d+: targets\[0\].partition_by.*bucket\(N, col\)"),
    (("index: patients", "index: my-index"), r"p.cdc.yaml:5:\d+: targets\[1\].index"),
    (("name: patients", "name: patients\nbatchh: {}"), r"p.cdc.yaml:2:1: batchh: unknown field 'batchh'; did you mean 'batch'"),
])
def test_mistakes_name_file_line_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           change: tuple[str, str], where: str) -> None:
    monkeypatch.setenv("CDC_SPEC_DSN", "postgresql://u:p@h/db")
    with pytest.raises(SpecError, match=where):
        load_cdc_spec(write(tmp_path, GOOD.replace(*change)))


def test_an_undefined_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDC_SPEC_DSN", raising=False)
    with pytest.raises(SpecError, match="CDC_SPEC_DSN"):
        load_cdc_spec(write(tmp_path, GOOD))
