"""HttpSource paging and HttpSink/HttpCall calling a real local HTTP service (stdlib server in a thread)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest

from services import http_service
from towpath.connectors import (
    HttpCall,
    HttpRetry,
    HttpSink,
    HttpSource,
    HttpStatusError,
    NextCursor,
    NextLink,
    OffsetLimit,
    PageNumber,
)
from towpath.pipeline import ProcessorContext
from towpath.pipeline.routing import ErrorRouter

ITEMS = [{"id": i, "name": f"item {i}"} for i in range(1, 9)]


class Api(BaseHTTPRequestHandler):
    """Pages of ITEMS four ways, and a POST endpoint that rejects, flakes and records calls."""

    lock = threading.Lock()
    calls: ClassVar[Counter[int]] = Counter()
    times: ClassVar[list[float]] = []
    in_flight = 0
    max_in_flight = 0

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/pages":
            start = (int(q["page"]) - 1) * 3
            self.reply(200, {"data": {"items": ITEMS[start:start + 3]}})
        elif url.path == "/offset":
            off, lim = int(q["offset"]), int(q["limit"])
            self.reply(200, ITEMS[off:off + lim])
        elif url.path == "/cursor":
            start = int(q.get("cursor", 0))
            nxt = start + 5 if start + 5 < len(ITEMS) else None
            self.reply(200, {"items": ITEMS[start:start + 5], "meta": {"next": nxt}})
        elif url.path == "/link":
            p = int(q.get("p", 1))
            links = {"next": f"/link?p={p + 1}"} if p < 4 else {"next": None}
            self.reply(200, {"results": ITEMS[(p - 1) * 2:p * 2], "links": links})
        elif url.path == "/broken":
            self.reply(403, {"error": "no access to /broken"})
        else:
            self.reply(404, {"error": "no route"})

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with Api.lock:
            Api.times.append(time.monotonic())
            Api.in_flight += 1
            Api.max_in_flight = max(Api.max_in_flight, Api.in_flight)
        try:
            time.sleep(0.02)
            if self.path == "/down":
                return self.reply(503, {"error": "maintenance"})
            key = payload["id"] if isinstance(payload, dict) else len(payload)
            with Api.lock:
                Api.calls[key] += 1
                attempt = Api.calls[key]
            if isinstance(payload, dict) and payload["id"] % 5 == 0:
                return self.reply(422, {"error": f"id {payload['id']} is not allowed"})
            if isinstance(payload, dict) and payload["id"] % 4 == 0 and attempt < 3:
                return self.reply(503, {"error": "busy"})  # flaky twice, then fine
            self.reply(201, {"accepted": key})
        finally:
            with Api.lock:
                Api.in_flight -= 1


@pytest.fixture(scope="module")
def api():
    with http_service(Api) as url:
        yield url


@pytest.fixture(autouse=True)
def reset_api():
    Api.calls.clear()
    Api.times.clear()
    Api.max_in_flight = 0


def read_all(source: HttpSource) -> pa.Table:
    source.open(ProcessorContext(name=source.name))
    batches = list(source.read())
    source.close(None)
    return pa.Table.from_batches(batches)


@pytest.mark.parametrize(
    ("path", "records_path", "pagination", "pages"),
    [
        ("/pages", "data.items", PageNumber(), 4),  # 3+3+2, then an empty page
        ("/pages", "data.items", PageNumber(size=3), 3),  # a short page ends it
        ("/offset", None, OffsetLimit(limit=3), 3),
        ("/cursor", "items", NextCursor(cursor_path="meta.next"), 2),
        ("/link", "results", NextLink(path="links.next"), 4),
    ],
)
def test_source_pages_through_every_record_once(api, path, records_path, pagination, pages):
    source = HttpSource(api + path, records_path=records_path, pagination=pagination)
    table = read_all(source)
    assert table.to_pylist() == ITEMS
    assert source.pages == pages


def test_source_error_status_names_url_and_body(api):
    with pytest.raises(HttpStatusError, match=r"GET http://127.0.0.1:\d+/broken answered 403: .*no access"):
        read_all(HttpSource(api + "/broken"))


def call_sink(sink: HttpSink, *batches: pa.RecordBatch) -> ErrorRouter:
    errors = ErrorRouter()
    sink.open(ProcessorContext(name=sink.name, errors=errors))
    out = [b for batch in batches for b in sink.process(batch)]
    sink.close(None)
    sink.output = out  # type: ignore[attr-defined]
    return errors


def ids(n: int) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(range(1, n + 1), pa.int64())})


def test_sink_calls_once_per_row_retries_503_and_routes_4xx(api):
    sink = HttpSink(api + "/accept", concurrency=8, retry=HttpRetry(attempts=4, backoff=0.01))
    errors = call_sink(sink, ids(20))
    assert sorted(Api.calls) == list(range(1, 21))
    assert {k: v for k, v in Api.calls.items() if v > 1} == {4: 3, 8: 3, 12: 3, 16: 3}  # 503, 503, 201
    rejected = errors.table().to_pylist()
    assert [json.loads(r["row"])["id"] for r in rejected] == [5, 10, 15, 20]
    assert rejected[0]["reason"].startswith("HTTP 422 from POST http://127.0.0.1:")
    assert "id 5 is not allowed" in rejected[0]["reason"]
    assert (sink.requests, sink.retries, sink.rejected) == (20, 8, 4)
    assert Api.max_in_flight > 1  # calls overlapped


def test_sink_gives_up_after_the_last_attempt_naming_url_and_status(api):
    sink = HttpSink(api + "/down", retry=HttpRetry(attempts=3, backoff=0.01))
    with pytest.raises(HttpStatusError, match=r"POST http://127.0.0.1:\d+/down failed after 3 attempts.*503") as info:
        call_sink(sink, ids(1))
    assert info.value.status == 503 and len(Api.times) == 3


def test_rate_limit_spaces_requests(api):
    sink = HttpSink(api + "/accept", concurrency=8, rate_limit=20)
    call_sink(sink, pa.record_batch({"id": pa.array([1, 2, 3, 6, 7, 9, 11, 13, 14, 17, 18], pa.int64())}))
    arrivals = sorted(Api.times)  # when the server saw each request
    assert len(arrivals) == 11
    assert arrivals[-1] - arrivals[0] >= 10 / 20 * 0.9  # 8 workers, yet 11 requests at 20/s span ~0.5 s


def test_per_batch_sends_the_rows_as_one_request_with_a_template(api):
    sink = HttpSink(api + "/accept", per="batch", body=lambda batch: batch.to_pylist())
    call_sink(sink, ids(3), ids(7))
    assert Api.calls == Counter({3: 1, 7: 1})  # the server keys a list payload by its length


def test_http_call_emits_accepted_rows_with_status_and_body(api):
    sink = HttpCall(api + "/accept", body={"id": "{id}", "note": "merchant {id}"})
    errors = call_sink(sink, ids(6))
    out = pa.Table.from_batches(sink.output)
    assert out.column("id").to_pylist() == [1, 2, 3, 4, 6]
    assert set(out.column("http_status").to_pylist()) == {201}
    assert json.loads(out.column("http_body")[3].as_py()) == {"accepted": 4}
    assert errors.rows == 1
