"""`python -m towpath.demo --keep DIR`: never writes over a folder that holds someone's files."""

from __future__ import annotations

from towpath.demo import main


def test_keep_refuses_a_folder_with_files_and_changes_nothing(tmp_path, capsys):
    (tmp_path / "towpath.yaml").write_text("my: edits\n")
    assert main(["--keep", str(tmp_path), "--rows", "1000"]) == 1
    assert "is not empty" in " ".join(capsys.readouterr().err.split())
    assert [p.name for p in tmp_path.iterdir()] == ["towpath.yaml"]
    assert (tmp_path / "towpath.yaml").read_text() == "my: edits\n"


def test_keep_refuses_a_path_that_is_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["--keep", str(target)]) == 1
    assert target.read_text() == "mine"


def test_keep_runs_in_an_empty_folder_and_force_reruns_in_place(tmp_path, capsys):
    assert main(["--keep", str(tmp_path), "--rows", "1000"]) == 0
    assert (tmp_path / "sample" / "main.sch.yaml").is_file()
    assert main(["--keep", str(tmp_path), "--rows", "1000"]) == 1
    assert main(["--keep", str(tmp_path), "--rows", "1000", "--force"]) == 0
    assert "rows for 2022-01-01" in capsys.readouterr().out
