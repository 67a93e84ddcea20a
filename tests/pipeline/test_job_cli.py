"""Grab's Job API and `towpath pipeline run` on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from towpath.cli.main import cli
from towpath.connectors.files import CsvSource, ParquetSink
from towpath.pipeline import Cast, FactoryError, Job, Required, Validate, load_pipeline

FACTORIES = str(Path(__file__).parent / "factories.py")
ORDERS = "id,name,amount\n1,ada,10\n2,,5\n3,bob,abc\n4,cy,-1\n5,dee,7.5\n"


@pytest.fixture()
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    return path


def test_job_without_destination_runs_only_the_transform(orders: Path) -> None:
    seen = []
    job = (Job("no_load", errors=seen.append)
           .set_source(CsvSource(str(orders)))
           .set_transformer(Validate(Required("name"))))
    stats = job.execute()
    assert [p.name for p in stats.processors] == ["csvsource", "validate"]
    assert stats.processor("validate").rows_out == 4 and stats.rows_written == 0 and stats.rows_error == 1
    assert len(seen) == 1 and seen[0].column("processor").to_pylist() == ["validate"]


def test_job_with_transformers_and_destination(orders: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    stats = (Job("load").set_source(CsvSource(str(orders), types={"amount": "string"}))
             .set_transformer(Validate(Required("name")), Cast({"amount": "float64"}))
             .set_destination(ParquetSink(str(out)))
             .execute())
    assert pq.read_table(out).column("id").to_pylist() == [1, 4, 5]
    assert stats.rows_written == 3 and stats.rows_error == 2


def test_cli_runs_a_factory_with_params_and_prints_json(orders: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.parquet"
    result = CliRunner().invoke(cli, ["pipeline", "run", f"{FACTORIES}:build", "-p", f"src={orders}",
                                      "-p", f"out={out}", "-p", "min_amount=6", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["name"] == "orders" and stats["rows_read"] == 5 and stats["rows_written"] == 2
    by_name = {p["name"]: p for p in stats["processors"]}
    assert by_name["validate"]["rows_error"] == 1 and by_name["cast"]["rows_error"] == 1
    assert pq.read_table(out).to_pylist() == [{"id": 1, "name": "ada", "amount": 10.0},
                                              {"id": 5, "name": "dee", "amount": 7.5}]


def test_cli_table_output_and_job_factories(orders: Path) -> None:
    result = CliRunner().invoke(cli, ["pipeline", "run", f"{FACTORIES}:build_job", "-p", f"src={orders}"])
    assert result.exit_code == 0, result.output
    assert "pipeline count_only: 5 rows read, 0 written, 0 errors" in result.output
    assert "csvsource" in result.output and "validate" in result.output


@pytest.mark.parametrize("target,params,message", [
    ("tests/pipeline/factoris.py:build", [],
     "cannot import 'tests/pipeline/factoris.py': no such file; did you mean 'tests/pipeline/factories.py'?"),
    (f"{FACTORIES}:biuld", [], "cannot find factory 'biuld'"),
    (f"{FACTORIES}:build", ["-p", "srcc=x"], "rejects parameters ['srcc']"),
    ("no_such_module_xyz:build", [], "cannot import 'no_such_module_xyz': no such module"),
])
def test_cli_user_mistakes_are_one_line_errors(target: str, params: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["pipeline", "run", target, *params, "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["type"] == "FactoryError" and message in error["error"]


def test_cli_main_prints_processor_failures_as_one_line(orders: Path, capsys) -> None:
    from towpath.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["pipeline", "run", f"{FACTORIES}:broken", "-p", f"src={orders}"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "error: processor 'filter' failed on batch 0" in err and "Traceback" not in err


def test_load_pipeline_from_module_on_sys_path(orders: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "my_jobs.py").write_text(
        "from towpath.pipeline import Job\nfrom towpath.connectors.files import CsvSource\n"
        "def make(src):\n    return Job('j').set_source(CsvSource(src))\n")
    monkeypatch.chdir(tmp_path)
    pipeline = load_pipeline("my_jobs:make", {"src": str(orders)})
    assert pipeline.run().rows_read == 5
    with pytest.raises(FactoryError, match="did you mean 'my_jobs'"):
        load_pipeline("my_job:make")


def test_a_malformed_parameter_is_the_same_error_as_for_workflows() -> None:
    result = CliRunner().invoke(cli, ["pipeline", "run", f"{FACTORIES}:build", "-p", "novalue", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["type"] == "ParameterError" and "-p: expected KEY=VALUE, got 'novalue'" in error["error"]
