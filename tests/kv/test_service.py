"""`towpath kv serve`: tokens, health, metrics, the JSON API and typed reads through the client."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import services
from towpath.kv import Client, KvAuthError, KvError, KvUnavailableError, open_store
from towpath.kv.service import KvService, ServiceConfig


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[KvService]:
    config = ServiceConfig(engine=f"embedded:{tmp_path / 'kv'}", port=services.free_port(),
                           grpc_port=services.free_port(), token="w-secret", read_token="r-secret")
    with KvService(config) as service:
        service.store.create_namespace("p_1")
        service.store.put_batch("p_1", [b"k"], [b"v"])
        service.store.set_alias("p", "p_1")
        yield service


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_writes_and_reads_are_refused_without_the_right_token(guarded: KvService, scheme: str) -> None:
    port = guarded.grpc_port if scheme == "grpc" else guarded.port
    url = f"{scheme}://127.0.0.1:{port}"
    with Client(url) as anonymous, Client(url, token="wrong") as wrong, Client(url, token="r-secret") as reader:
        with pytest.raises(KvAuthError, match="needs the write token"):
            anonymous.create_namespace("p_2")
        with pytest.raises(KvAuthError, match="invalid token for a write call"):
            wrong.put_batch("p_1", [b"x"], [b"y"])
        with pytest.raises(KvAuthError, match="invalid token for a write call"):
            reader.set_alias("p", "p_1")  # the read token cannot write
        with pytest.raises(KvAuthError, match="needs the read token"):
            anonymous.get("p", b"k")
        assert reader.get("p", b"k") == b"v"
    assert guarded.store.namespaces() == ["p_1"] and guarded.store.get("p_1", b"x") is None  # nothing changed
    with Client(url, token="w-secret") as writer:  # the write token reads and writes
        writer.put_batch("p_1", [b"x"], [b"y"])
        assert writer.get("p", b"x") == b"y"


def test_http_json_api_health_and_metrics(guarded: KvService) -> None:
    base = f"http://127.0.0.1:{guarded.port}"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "engine": guarded.store.url}
    auth = {"authorization": "Bearer r-secret"}
    assert httpx.get(f"{base}/v1/namespaces", headers=auth).json() == {"namespaces": ["p_1"]}
    assert httpx.get(f"{base}/v1/aliases", headers=auth).json() == {"aliases": {"p": "p_1"}}
    key = base64.urlsafe_b64encode(b"k").decode().rstrip("=")
    assert httpx.get(f"{base}/v1/kv/p/{key}", headers=auth).content == b"v"
    assert httpx.get(f"{base}/v1/kv/p/{key}").status_code == 401
    missing = httpx.get(f"{base}/v1/kv/nope/{key}", headers=auth)
    assert missing.status_code == 404 and missing.json()["type"] == "NamespaceNotFoundError"
    with Client(f"grpc://127.0.0.1:{guarded.grpc_port}", token="w-secret") as writer:
        writer.put_batches("p_1", [([b"a", b"b"], [b"1", b"2"]), ([b"c"], [b"3"])])
    metrics = httpx.get(f"{base}/metrics").text
    assert 'towpath_kv_rows_written_total 3.0' in metrics
    assert 'towpath_kv_requests_total{api="http",code="UNAUTHENTICATED",method="Get"} 1.0' in metrics
    assert 'towpath_kv_request_seconds_bucket{api="grpc",le="0.005",method="PutBatch"}' in metrics


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(KvAuthError, match="refusing to serve on 0.0.0.0 without a write token"):
        KvService(ServiceConfig(engine=f"embedded:{tmp_path}", host="0.0.0.0"))


def test_a_service_that_went_away_is_unavailable(tmp_path: Path) -> None:
    port = services.free_port()
    with Client(f"http://127.0.0.1:{port}") as client, pytest.raises(KvUnavailableError):
        client.namespaces()
    with Client(f"grpc://127.0.0.1:{port}") as client, pytest.raises(KvUnavailableError):
        client.namespaces()


PROTO = """
syntax = "proto3";
package demo;
message KeyMessage { optional int64 profile_id = 1; }
message ValueMessage { optional string email = 1; optional int32 age = 2; }
"""


def test_typed_reads_decode_with_the_classes_protoc_generated(kv_service: KvService, tmp_path: Path) -> None:
    (tmp_path / "profiles.proto").write_text(PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
                    str(tmp_path / "profiles.proto")], check=True)
    sys.path.insert(0, str(tmp_path))
    try:
        import profiles_pb2 as gen  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    pb: Any = gen
    keys = [pb.KeyMessage(profile_id=i).SerializeToString() for i in (1, 2)]
    values = [pb.ValueMessage(email=f"u{i}@example.com", age=30 + i).SerializeToString() for i in (1, 2)]
    with Client(f"grpc://127.0.0.1:{kv_service.grpc_port}") as client:
        client.create_namespace("profiles_1")
        client.put_batch("profiles_1", keys, values)
        client.set_alias("profiles", "profiles_1")
        value = client.get("profiles", pb.KeyMessage(profile_id=2))
        assert isinstance(value, pb.ValueMessage) and (value.email, value.age) == ("u2@example.com", 32)
        assert client.get("profiles", pb.KeyMessage(profile_id=9)) is None
        many = client.get_many("profiles", [pb.KeyMessage(profile_id=1), pb.KeyMessage(profile_id=5)])
        assert [m and m.age for m in many] == [31, None]
        rows, cursor = client.scan("profiles", key_class=pb.KeyMessage, value_class=pb.ValueMessage)
        assert sorted((k.profile_id, v.email) for k, v in rows) == [(1, "u1@example.com"), (2, "u2@example.com")]
        assert cursor is None
    with open_store(f"http://127.0.0.1:{kv_service.port}") as over_http:
        assert over_http.get("profiles", keys[0]) == values[0]  # bytes in, bytes out: the KvStore contract


def test_the_committed_service_proto_matches_its_generated_module(tmp_path: Path) -> None:
    src = Path(__file__).parents[2] / "src"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"--python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", str(src / "towpath/kv/_pb/kv.proto")], check=True)
    for name in ("kv_pb2.py", "kv_pb2.pyi"):
        assert (tmp_path / "towpath/kv/_pb" / name).read_text() == (src / "towpath/kv/_pb" / name).read_text(), (
            f"{name} is stale: regenerate it (see kv.proto's header)")


@pytest.mark.parametrize("api", ["port", "grpc_port"])
def test_a_port_in_use_is_a_clear_error(tmp_path: Path, api: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = {"port": services.free_port(), "grpc_port": services.free_port(), api: busy}
        service = KvService(ServiceConfig(engine=f"embedded:{tmp_path}", **ports))
        with pytest.raises(KvError, match=f"cannot listen for {'HTTP' if api == 'port' else 'gRPC'} on 127.0.0.1:{busy}"):
            service.start()
        service.stop()
