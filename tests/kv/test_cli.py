"""`towpath kv ...` end to end: serve in a real process, read through it, clean errors for mistakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

import services
from towpath.cli.main import cli
from towpath.kv import open_store

PROTO = """
syntax = "proto3";
package clidemo;
message KeyMessage { optional int64 profile_id = 1; }
message ValueMessage { optional string email = 1; optional int32 age = 2; }
"""


def _filled(tmp_path: Path) -> tuple[str, Path]:
    (tmp_path / "cliprofiles.proto").write_text(PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
                    str(tmp_path / "cliprofiles.proto")], check=True)
    module = tmp_path / "cliprofiles_pb2.py"
    sys.path.insert(0, str(tmp_path))
    try:
        import cliprofiles_pb2 as pb  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    url = f"embedded:{tmp_path / 'kv'}"
    with open_store(url) as store:
        store.create_namespace("profiles_1")
        store.put_batch("profiles_1", [pb.KeyMessage(profile_id=i).SerializeToString() for i in range(3)],
                        [pb.ValueMessage(email=f"u{i}@x.org", age=20 + i).SerializeToString() for i in range(3)])
        store.set_alias("profiles", "profiles_1")
    return url, module


def test_get_scan_namespaces_with_json(tmp_path: Path) -> None:
    url, module = _filled(tmp_path)
    runner = CliRunner()
    got = runner.invoke(cli, ["kv", "get", "profiles", '{"profile_id": 2}', "--store", url,
                              "--proto-module", str(module), "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.output) == {"namespace": "profiles", "found": True, "value": {"email": "u2@x.org", "age": 22}}
    missing = runner.invoke(cli, ["kv", "get", "profiles", '{"profile_id": 9}', "--store", url,
                                  "--proto-module", str(module), "--json"])
    assert missing.exit_code == 1 and json.loads(missing.output)["found"] is False
    scanned = runner.invoke(cli, ["kv", "scan", "profiles", "--limit", "2", "--store", url, "--proto-module",
                                  str(module), "--json"])
    page = json.loads(scanned.output)
    assert len(page["rows"]) == 2 and page["next_cursor"] and page["rows"][0]["value"]["email"].endswith("@x.org")
    listed = json.loads(runner.invoke(cli, ["kv", "namespaces", "--store", url, "--json"]).output)
    assert listed == {"namespaces": ["profiles_1"], "aliases": {"profiles": "profiles_1"}, "counts": {"profiles_1": 3}}
    human = runner.invoke(cli, ["kv", "namespaces", "--store", url])
    assert "profiles_1" in human.output and "profiles" in human.output


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    url, module = _filled(tmp_path)
    runner = CliRunner()
    bad_json = runner.invoke(cli, ["kv", "get", "profiles", "{profile_id: 2}", "--store", url, "--proto-module", str(module)])
    assert bad_json.exit_code == 1 and "KEY_JSON is not JSON" in bad_json.output and "Traceback" not in bad_json.output
    bad_field = runner.invoke(cli, ["kv", "get", "profiles", '{"profile": 2}', "--store", url, "--proto-module", str(module)])
    assert bad_field.exit_code == 1 and "does not fit KeyMessage" in bad_field.output
    unknown = runner.invoke(cli, ["kv", "get", "profile", '"x"', "--raw", "--store", url])
    assert unknown.exit_code == 1 and "Did you mean 'profiles'" in unknown.output
    no_module = runner.invoke(cli, ["kv", "scan", "profiles", "--store", url, "--proto-module", str(tmp_path / "no.py")])
    assert no_module.exit_code == 1 and "no such file" in no_module.output


def test_serve_in_a_process_reads_through_grpc_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    url, module = _filled(tmp_path)
    port, grpc_port = services.free_port(), services.free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "kv", "serve", "--engine", url, "--port",
                             str(port), "--grpc-port", str(grpc_port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        services.wait_for_port(port, 30, "towpath kv serve")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
        got = CliRunner().invoke(cli, ["kv", "get", "profiles", '{"profile_id": 1}', "--store",
                                       f"grpc://127.0.0.1:{grpc_port}", "--proto-module", str(module), "--json"])
        assert json.loads(got.output)["value"] == {"email": "u1@x.org", "age": 21}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"grpc://127.0.0.1:{grpc_port}" in out


def test_serve_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["kv", "serve", "--engine", f"embedded:{tmp_path}", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "without a write token" in result.output
