"""The HTTP point reads of `towpath kv serve` over Redis (`kv/_http_front.py`): `GET /v1/kv/<ns>/<key>` and the
protobuf `POST /v1/rpc/Get|GetMany`, answered on uvicorn's loop by the async Redis reader, against a real
`redis-server` and a real service on loopback ports — values, alias swaps, errors, tokens, metrics, a Redis that
goes away and comes back, and every other route still served by the Starlette app on the same connection."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import httpx
import pytest
import redis

import services
from services import RedisServer
from services import redis_server as start_redis
from towpath.kv import Client, open_store
from towpath.kv._pb import kv_pb2 as pb
from towpath.kv.service import KvService, ServiceConfig


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def _load(url: str) -> None:
    with open_store(url) as store:
        for v in (1, 2):
            store.create_namespace(f"p_{v}")
            store.put_batch(f"p_{v}", [b"k%d" % i for i in range(50)], [b"v%d:%d" % (v, i) for i in range(50)])
        store.set_alias("p", "p_1")


def _service(url: str, **options: object) -> KvService:
    return KvService(ServiceConfig(engine=url, port=services.free_port(), grpc_port=0, write_processes=0,
                                   **options))  # type: ignore[arg-type]


@pytest.fixture
def served(redis_server: RedisServer) -> Iterator[tuple[KvService, httpx.Client]]:
    url = f"{redis_server.url}?prefix=hr{services.free_port()}&buckets=8"
    _load(url)
    with _service(url) as service, httpx.Client(base_url=f"http://127.0.0.1:{service.port}") as http:
        yield service, http


def metric(http: httpx.Client, line_start: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.split()[-1])
    return 0.0


def test_the_fast_path_serves_the_reads_when_the_store_reads_asynchronously(
        served: tuple[KvService, httpx.Client]) -> None:
    service, _ = served
    assert service._http.config.http_protocol_class.__name__ == "HttpFront"


def test_a_get_returns_the_value_and_follows_an_alias_swap_on_the_next_request(
        served: tuple[KvService, httpx.Client]) -> None:
    service, http = served
    answer = http.get(f"/v1/kv/p/{b64(b'k7')}")
    assert answer.status_code == 200 and answer.content == b"v1:7"
    assert answer.headers["content-type"] == "application/octet-stream"
    assert http.get(f"/v1/kv/p_2/{b64(b'k7')}=").content == b"v2:7"  # padded keys too, and a namespace by name
    for round_ in range(10):
        version = 1 + round_ % 2
        service.store.set_alias("p", f"p_{version}")
        assert http.get(f"/v1/kv/p/{b64(b'k3')}").content == b"v%d:3" % version


def test_missing_keys_bad_keys_and_unknown_namespaces_are_clear_4xx(served: tuple[KvService, httpx.Client]) -> None:
    _, http = served
    missing = http.get(f"/v1/kv/p/{b64(b'nope')}")
    assert missing.status_code == 404 and missing.json() == {"error": "key not found"}
    bad = http.get("/v1/kv/p/not*base64")
    assert bad.status_code == 400 and bad.json()["type"] == "KvError" and "base64url" in bad.json()["error"]
    assert http.get("/v1/kv/p/abcde").status_code == 400  # 4n+1 characters decode to nothing
    unknown = http.get(f"/v1/kv/nope/{b64(b'k1')}")
    assert unknown.status_code == 404 and unknown.json()["type"] == "NamespaceNotFoundError"
    assert "nope" in unknown.json()["error"] and unknown.json()["code"] == "NOT_FOUND"


def test_the_client_over_http_reads_through_the_fast_path(served: tuple[KvService, httpx.Client]) -> None:
    service, http = served
    before = metric(http, 'towpath_kv_requests_total{api="http",code="ok",method="GetMany"}')
    with Client(f"http://127.0.0.1:{service.port}") as client:
        assert client.get("p", b"k1") == b"v1:1" and client.get("p", b"k99") is None
        assert client.get_many("p", [b"k2", b"k99", b"k3"]) == [b"v1:2", None, b"v1:3"]
        assert client.namespaces() == ["p_1", "p_2"]  # not a point read: the Starlette app answers it
    assert metric(http, 'towpath_kv_requests_total{api="http",code="ok",method="GetMany"}') == before + 1
    garbled = http.post("/v1/rpc/Get", content=b"\xff\xff\xff")
    assert garbled.status_code == 400 and "not a serialised GetRequest" in garbled.json()["error"]
    get = pb.GetRequest(namespace="p", key=b"k4").SerializeToString()
    assert pb.GetResponse.FromString(http.post("/v1/rpc/Get", content=get).content).value == b"v1:4"


def test_metrics_count_the_calls_with_their_outcome(served: tuple[KvService, httpx.Client]) -> None:
    _, http = served
    ok = 'towpath_kv_requests_total{api="http",code="ok",method="Get"}'
    not_found = 'towpath_kv_requests_total{api="http",code="NOT_FOUND",method="Get"}'
    timed = 'towpath_kv_request_seconds_count{api="http",method="Get"}'
    before = metric(http, ok), metric(http, not_found), metric(http, timed)
    for i in range(5):
        http.get(f"/v1/kv/p/{b64(b'k%d' % i)}")
    http.get(f"/v1/kv/nope/{b64(b'k1')}")
    assert (metric(http, ok), metric(http, not_found), metric(http, timed)) == \
        (before[0] + 5, before[1] + 1, before[2] + 6)


def test_the_gets_latency_paces_writes_as_grpc_gets_do(served: tuple[KvService, httpx.Client]) -> None:
    service, http = served
    assert service.core.pacer is not None
    http.get(f"/v1/kv/p/{b64(b'k1')}")
    assert "http" in service.core.pacer.last_read and service.core.pacer._window  # seen by the pacer's window


def test_the_read_token_is_enforced(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}?prefix=hrt&buckets=8"
    _load(url)
    with _service(url, token="w-secret", read_token="r-secret") as service, \
            httpx.Client(base_url=f"http://127.0.0.1:{service.port}") as http:
        path = f"/v1/kv/p/{b64(b'k1')}"
        anonymous = http.get(path)
        assert anonymous.status_code == 401 and "needs the read token" in anonymous.json()["error"]
        assert http.get(path, headers={"authorization": "Bearer wrong"}).status_code == 401
        assert http.get(path, headers={"authorization": "Bearer r-secret"}).content == b"v1:1"
        assert http.get(path, headers={"authorization": "Bearer w-secret"}).content == b"v1:1"
        assert http.post("/v1/rpc/Get", content=pb.GetRequest(namespace="p", key=b"k1").SerializeToString()
                         ).status_code == 401
        assert metric(http, 'towpath_kv_requests_total{api="http",code="UNAUTHENTICATED",method="Get"}') == 3


def test_other_routes_and_odd_requests_go_to_the_starlette_app_on_the_same_connection(
        served: tuple[KvService, httpx.Client]) -> None:
    service, http = served
    with socket.create_connection(("127.0.0.1", service.port)) as raw:
        raw.sendall(f"GET /v1/kv/p/{b64(b'k1')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert raw.recv(4096).endswith(b"v1:1")
        # pipelined: a point read, then a route of the app's; answered in order on one connection
        raw.sendall(f"GET /v1/kv/p/{b64(b'k2')} HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                    "Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer.index(b"v1:2") < answer.index(b'"status":"ok"')
    assert http.get(f"/v1/kv/p/{b64(b'k1')}?x=1").content == b"v1:1"  # a query string: the app's route
    with socket.create_connection(("127.0.0.1", service.port)) as raw:  # two lengths: refused, not guessed
        raw.sendall(b"POST /v1/rpc/Get HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 3\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 400")
    assert http.get("/v1/aliases").json() == {"aliases": {"p": "p_1"}}


def test_a_script_flushed_from_redis_is_sent_again(served: tuple[KvService, httpx.Client],
                                                   redis_server: RedisServer) -> None:
    _, http = served
    assert http.get(f"/v1/kv/p/{b64(b'k1')}").content == b"v1:1"
    redis.Redis.from_url(redis_server.url).script_flush()
    assert [http.get(f"/v1/kv/p/{b64(b'k%d' % i)}").content for i in range(3)] == [b"v1:0", b"v1:1", b"v1:2"]


def test_a_burst_of_pipelined_bad_requests_is_answered_in_order(served: tuple[KvService, httpx.Client]) -> None:
    service, _ = served
    burst = 3000  # answered at once (no Redis call): one after the other, not by recursion
    with socket.create_connection(("127.0.0.1", service.port)) as raw:
        raw.sendall(b"GET /v1/kv/p/*bad* HTTP/1.1\r\nHost: x\r\n\r\n" * burst
                    + f"GET /v1/kv/p/{b64(b'k5')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 400 Bad Request") == burst and answer.endswith(b"v1:5")


def test_connection_close_is_honoured(served: tuple[KvService, httpx.Client]) -> None:
    service, _ = served
    with socket.create_connection(("127.0.0.1", service.port)) as raw:
        raw.sendall(f"GET /v1/kv/p/{b64(b'k1')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(4096):  # the server closes: the loop ends
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in answer and answer.endswith(b"v1:1")


def test_redis_going_away_is_a_503_and_the_next_request_after_it_returns_works() -> None:
    with start_redis() as server:
        url = f"{server.url}?prefix=hrg&buckets=8&timeout=2"
        port = server.port
        _load(url)
        service = _service(url).start()
        http = httpx.Client(base_url=f"http://127.0.0.1:{service.port}")
        assert http.get(f"/v1/kv/p/{b64(b'k1')}").content == b"v1:1"
    try:
        gone = http.get(f"/v1/kv/p/{b64(b'k1')}")
        assert gone.status_code == 503 and gone.json()["type"] == "KvUnavailableError"
        assert gone.json()["code"] == "UNAVAILABLE"
        with start_redis(port):
            _load(url)
            assert http.get(f"/v1/kv/p/{b64(b'k2')}").content == b"v1:2"  # reconnected
    finally:
        http.close()
        service.stop()
        service.store.close()
