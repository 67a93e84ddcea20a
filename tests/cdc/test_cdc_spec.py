"""`*.cdc.yaml` mistakes are errors at file:line naming the field, before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from towpath.cdc import CDC_SOURCES, CDC_TARGETS, TargetContext, TargetSpec, load_cdc_spec
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
    (("type: postgres", "type: postgress"), (r"p.cdc.yaml:2:\d+: source.type: unknown CDC source 'postgress'; "
                                            r"did you mean 'postgres'")),
    (("type: search", "type: serach"), (r"p.cdc.yaml:5:\d+: targets\[1\].*expected a CDC target type: iceberg, kv, "
                                      r"search")),
    (("index: patients}", "index: patients}\n  - {type: kv, namespace: 'a b'}"),
     r"p.cdc.yaml:6:\d+: targets\[2\].namespace: expected a KV namespace name"),
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


def test_a_target_kind_is_one_registration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new target type validates, opens and reports the lake tables it writes through `CDC_TARGETS` alone."""
    from typing import Literal

    class AuditLogSpec(TargetSpec):
        type: Literal["auditlog"]
        path: str

        def open(self, context: TargetContext):  # type: ignore[no-untyped-def]
            return (context.job, self.path)

        def lake_tables(self) -> list[str]:
            return ["lake.audit"]

    from towpath.cdc import spec as spec_module

    monkeypatch.setenv("CDC_SPEC_DSN", "postgresql://u:p@h/db")
    CDC_TARGETS.register("auditlog", AuditLogSpec)  # a plugin's entry point does this before the first spec loads
    spec_module._target_union.cache_clear()
    spec_module.CdcSpec.model_rebuild(force=True)
    try:
        spec = load_cdc_spec(write(tmp_path, GOOD + "  - {type: auditlog, path: x.log}\n"))
        assert isinstance(spec.targets[2], AuditLogSpec)
        assert spec.targets[2].open(TargetContext(None, tmp_path, spec.name)) == ("patients", "x.log")  # type: ignore[arg-type]
        assert [t for target in spec.targets for t in target.lake_tables()] == ["lake.patients", "lake.audit"]
    finally:
        CDC_TARGETS._entries.pop("auditlog")
        spec_module._target_union.cache_clear()
        spec_module.CdcSpec.model_rebuild(force=True)
    assert CDC_SOURCES.names() == ["mysql", "postgres"]


def test_a_source_named_by_its_project_connection(tmp_path: Path) -> None:
    """`source.connection` takes host, user and the password (from its file) from towpath.yaml's `connections:`."""
    from towpath.project import Project

    root = Project.init(tmp_path / "proj").root
    (root / ".secrets").mkdir()
    (root / ".secrets" / "pw").write_text("s3cr/t@x\n")
    (root / "towpath.yaml").write_text(
        "name: proj\nconnections:\n"
        "  ehr: {type: mariadb, host: 10.0.0.5, port: 3307, user: cdc, password: {file: .secrets/pw}, "
        "database: health}\n  lakeside: {type: sqlite, path: x.db}\n")
    spec = root / "cdc" / "p.cdc.yaml"
    spec.parent.mkdir()
    spec.write_text("name: p\nsource: {type: mysql, connection: ehr, table: health.patients}\n"
                    "targets: [{type: search, index: p}]\n")
    assert load_cdc_spec(spec).source.url == "mysql://cdc:s3cr%2Ft%40x@10.0.0.5:3307/health"
    assert "s3cr" not in repr(load_cdc_spec(spec).source.connection)
    for text, message in [
        ("connection: ehrr", r"p.cdc.yaml:2:\d+: source.connection: no connection 'ehrr'.*did you mean 'ehr'"),
        ("connection: lakeside", (r"p.cdc.yaml:2:\d+: source.connection: connection 'lakeside' is a sqlite "
                                 r"connection; a mysql source needs a mysql or mariadb one")),
        ("connection: ehr, dsn: 'mysql://a@b/c'", (r"p.cdc.yaml:2:\d+: source: expected exactly one of dsn and "
                                                  r"connection")),
    ]:
        spec.write_text(f"name: p\nsource: {{type: mysql, {text}, table: health.patients}}\n"
                        "targets: [{type: search, index: p}]\n")
        with pytest.raises(SpecError, match=message):
            load_cdc_spec(spec)
