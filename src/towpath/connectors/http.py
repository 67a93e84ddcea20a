"""HTTP APIs as pipeline processors (httpx): a paging JSON source and a concurrent, rate-limited caller.

`HttpSource` pages through a JSON API (page number, offset/limit, cursor or
next-link) and emits the records found at a JSON path as Arrow batches.

`HttpSink` calls an API once per row or once per batch from a thread pool
sharing one httpx connection pool, under a token-bucket rate limit. 5xx, 429
and connection failures are retried with exponential backoff (each attempt
fails with an `HttpTransientError`); after the last attempt the run fails with
an `HttpStatusError` naming the URL and status. A 4xx is the row's fault, not
the service's: those rows go to the pipeline's error sink with the status and
the start of the response body, and the other rows carry on. `HttpCall` is the
same caller as a transform: it emits each input row with `http_status` and
`http_body`, for pipelines that call microservices mid-way.
"""

from __future__ import annotations

import json
import string
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
import pyarrow as pa

from towpath.errors import ConnectorError, TransientError
from towpath.pipeline import ProcessorContext, Sink, Source

BODY_EXCERPT = 300
"""Characters of a response body kept in error messages and error-sink reasons."""


class HttpStatusError(ConnectorError):
    """The service answered with an error status (or never answered) after every attempt."""

    def __init__(self, msg: str, *, url: str, status: int | None) -> None:
        super().__init__(msg)
        self.url, self.status = url, status


class HttpTransientError(ConnectorError, TransientError):
    """One attempt failed in a way worth retrying (5xx, 429, connection error, timeout)."""

    def __init__(self, msg: str, *, url: str, status: int | None) -> None:
        super().__init__(msg)
        self.url, self.status = url, status


@dataclass(frozen=True)
class HttpRetry:
    """How to retry one request: `attempts` in all, sleeping `backoff * 2**n` (capped) in between."""

    attempts: int = 4
    backoff: float = 0.1
    max_backoff: float = 5.0
    statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    """Statuses worth retrying; any other 4xx/5xx is final."""

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None and (after := response.headers.get("retry-after", "")).isdigit():
            return min(float(after), self.max_backoff)
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))


class TokenBucket:
    """At most `rate` acquisitions per second across threads (burst of `burst`)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0:
            raise ConnectorError(f"rate_limit must be a positive number of requests per second, got {rate}")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)


def json_path(data: Any, path: str | None) -> Any:
    """Follow a dotted path (`data.items`, `$.meta.next`, `results.0.id`); None when any step is missing."""
    if not path or path in ("$", "."):
        return data
    for part in path.removeprefix("$.").split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
        if data is None:
            return None
    return data


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:BODY_EXCERPT] + ("..." if len(text) > BODY_EXCERPT else "")


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    retry: HttpRetry,
    limiter: TokenBucket | None,
    processor: str,
    on_retry: Callable[[], None] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request with rate limiting and retries; returns the final response (2xx or a final 4xx/5xx).

    Raises:
        HttpStatusError: every attempt failed with a retryable status or a connection error.
    """
    last: HttpTransientError | None = None
    for attempt in range(1, retry.attempts + 1):
        if limiter is not None:
            limiter.acquire()
        response: httpx.Response | None = None
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            last = HttpTransientError(f"{method} {url}: {type(exc).__name__}: {exc}", url=url, status=None)
        else:
            if response.status_code not in retry.statuses:
                return response
            last = HttpTransientError(
                f"{method} {url} answered {response.status_code}: {_excerpt(response)}",
                url=url, status=response.status_code,
            )
        if attempt < retry.attempts:
            if on_retry is not None:
                on_retry()
            time.sleep(retry.delay(attempt, response))
    assert last is not None
    raise HttpStatusError(
        f"processor '{processor}': {method} {url} failed after {retry.attempts} attempts; last: {last}",
        url=url, status=last.status,
    ) from last


# -- pagination -----------------------------------------------------------------------------------


class Pagination(ABC):
    """How to get from one page to the next. `next_request` returns None when there are no more pages."""

    def first(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    @abstractmethod
    def next_request(
        self, payload: Any, records: list[Any], url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """The (url, params) of the next page, or None."""


@dataclass(frozen=True)
class PageNumber(Pagination):
    """`?page=1`, `?page=2`, ... until a page comes back empty (or shorter than `size`)."""

    param: str = "page"
    start: int = 1
    size_param: str | None = None
    size: int | None = None

    def first(self, params: dict[str, Any]) -> dict[str, Any]:
        extra = {self.size_param: self.size} if self.size_param and self.size else {}
        return {**params, self.param: self.start, **extra}

    def next_request(self, payload: Any, records: list[Any], url: str, params: dict[str, Any]) -> Any:
        if not records or (self.size is not None and len(records) < self.size):
            return None
        return url, {**params, self.param: int(params[self.param]) + 1}


@dataclass(frozen=True)
class OffsetLimit(Pagination):
    """`?offset=0&limit=100`, `?offset=100&limit=100`, ... until a page is shorter than `limit`."""

    limit: int = 100
    offset_param: str = "offset"
    limit_param: str = "limit"

    def first(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, self.offset_param: 0, self.limit_param: self.limit}

    def next_request(self, payload: Any, records: list[Any], url: str, params: dict[str, Any]) -> Any:
        if len(records) < self.limit:
            return None
        return url, {**params, self.offset_param: int(params[self.offset_param]) + len(records)}


@dataclass(frozen=True)
class NextCursor(Pagination):
    """The response names the next cursor at `cursor_path`; send it back as `?{param}=...` until it is empty."""

    cursor_path: str = "next_cursor"
    param: str = "cursor"

    def next_request(self, payload: Any, records: list[Any], url: str, params: dict[str, Any]) -> Any:
        cursor = json_path(payload, self.cursor_path)
        if cursor in (None, ""):
            return None
        return url, {**params, self.param: cursor}


@dataclass(frozen=True)
class NextLink(Pagination):
    """The response holds the next page's URL at `path` (absolute or relative); follow it until it is empty."""

    path: str = "next"

    def next_request(self, payload: Any, records: list[Any], url: str, params: dict[str, Any]) -> Any:
        link = json_path(payload, self.path)
        if not link:
            return None
        return str(httpx.URL(url).join(str(link))), {}


# -- source ---------------------------------------------------------------------------------------


class HttpSource(Source):
    """Page through a JSON API and emit the records at `records_path` as Arrow batches (one per page).

    Args:
        url: the first page's URL.
        params: query parameters of the first request.
        records_path: dotted path to the list of records in each response (default: the body itself).
        pagination: `PageNumber`, `OffsetLimit`, `NextCursor`, `NextLink`, or None for a single request.
        schema: Arrow schema of the records (default: inferred from the first page).
        max_pages: stop after this many pages (a guard against APIs that never stop).
    """

    def __init__(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        records_path: str | None = None,
        pagination: Pagination | None = None,
        schema: pa.Schema | None = None,
        retry: HttpRetry = HttpRetry(),
        rate_limit: float | None = None,
        timeout: float = 30.0,
        max_pages: int = 100_000,
        name: str = "",
    ) -> None:
        self.url, self.params, self.headers = url, dict(params or {}), dict(headers or {})
        self.records_path, self.pagination, self.schema = records_path, pagination, schema
        self.retry, self.timeout, self.max_pages = retry, timeout, max_pages
        self.limiter = TokenBucket(rate_limit) if rate_limit else None
        self.name = name or f"http:{httpx.URL(url).host}{httpx.URL(url).path}"
        self.pages = 0

    def read(self) -> Iterator[pa.RecordBatch]:
        url = self.url
        params = self.pagination.first(self.params) if self.pagination else self.params
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            while self.pages < self.max_pages:
                # params=None, not {}: httpx replaces a URL's own query (a next-link's) with an empty dict.
                response = send(client, "GET", url, retry=self.retry, limiter=self.limiter, processor=self.name,
                                params=params or None)
                self.pages += 1
                if response.is_error:
                    raise HttpStatusError(
                        f"processor '{self.name}': GET {response.request.url} answered {response.status_code}: "
                        f"{_excerpt(response)}", url=str(response.request.url), status=response.status_code,
                    )
                try:
                    payload = response.json()
                except ValueError:
                    raise ConnectorError(
                        f"processor '{self.name}': GET {response.request.url} did not return JSON: "
                        f"{_excerpt(response)}"
                    ) from None
                records = json_path(payload, self.records_path)
                if records is None:
                    records = []
                if not isinstance(records, list):
                    raise ConnectorError(
                        f"processor '{self.name}': expected a list of records at '{self.records_path}' in the "
                        f"response of {response.request.url}, found {type(records).__name__}"
                    )
                if records:
                    batch = pa.RecordBatch.from_pylist(records, schema=self.schema)
                    self.schema = batch.schema
                    yield batch
                nxt = self.pagination.next_request(payload, records, url, params) if self.pagination else None
                if nxt is None:
                    return
                url, params = nxt


# -- sink / caller --------------------------------------------------------------------------------

Body = Callable[[Any], Any] | Mapping[str, Any] | str | None
"""The request body: None (the row / the batch's rows as JSON), a callable of the row (per="row") or of the
`RecordBatch` (per="batch") returning JSON-able data, or a template whose strings use `{column}` fields."""


def _render(template: Any, row: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        if len(fields) == 1 and template == "{" + fields[0] + "}":
            return row.get(fields[0])  # a bare "{amount}" keeps the value's JSON type
        return template.format_map(row)
    if isinstance(template, Mapping):
        return {k: _render(v, row) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, row) for v in template]
    return template


RESPONSE_FIELDS = [pa.field("http_status", pa.int32()), pa.field("http_body", pa.string())]


class HttpSink(Sink):
    """Call an API for every row (or every batch) of the input, concurrently and under a rate limit.

    Args:
        url: the endpoint; may hold `{column}` fields filled from each row (per="row").
        method: HTTP method.
        per: "row" (one request per row) or "batch" (one request with all the batch's rows).
        concurrency: requests in flight at once (threads and pooled connections).
        rate_limit: at most this many requests per second (None: unlimited).
        retry: retry policy for 5xx/429/connection errors.
        body: see `Body`.
    """

    EMITS: ClassVar[bool] = False

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        per: Literal["row", "batch"] = "row",
        concurrency: int = 8,
        rate_limit: float | None = None,
        retry: HttpRetry = HttpRetry(),
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        name: str = "",
    ) -> None:
        if per not in ("row", "batch"):
            raise ConnectorError(f"HttpSink: per must be 'row' or 'batch', got '{per}'")
        if concurrency < 1:
            raise ConnectorError(f"HttpSink: concurrency must be at least 1, got {concurrency}")
        self.url, self.method, self.per, self.concurrency = url, method.upper(), per, concurrency
        self.retry, self.body, self.headers, self.timeout = retry, body, dict(headers or {}), timeout
        self.limiter = TokenBucket(rate_limit) if rate_limit else None
        self.name = name or f"http:{self.method} {url}"
        self.requests = 0
        self.retries = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._client = httpx.Client(timeout=self.timeout, headers=self.headers, limits=limits)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"http-{self.name}")

    def _count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def _call(self, url: str, payload: Any) -> tuple[int, str]:
        assert self._client is not None
        kwargs: dict[str, Any] = {}
        if payload is not None and self.method not in ("GET", "DELETE", "HEAD"):
            kwargs["json"] = payload
        response = send(self._client, self.method, url, retry=self.retry, limiter=self.limiter,
                        processor=self.name, on_retry=self._count_retry, **kwargs)
        with self._lock:
            self.requests += 1
        if response.status_code >= 500:
            raise HttpStatusError(
                f"processor '{self.name}': {self.method} {url} answered {response.status_code}: {_excerpt(response)}",
                url=url, status=response.status_code,
            )
        return response.status_code, response.text

    def _row_request(self, row: dict[str, Any]) -> tuple[int, str]:
        url = self.url.format_map(row) if "{" in self.url else self.url
        if callable(self.body):
            payload = self.body(row)
        elif self.body is None:
            payload = row
        else:
            payload = _render(self.body, row)
        return self._call(url, json.loads(json.dumps(payload, default=str)))

    def _responses(self, batch: pa.RecordBatch) -> tuple[list[int], list[str]]:
        """Status and body for every row of `batch` (per="batch": the one response, repeated)."""
        assert self._pool is not None, "open() first"
        if self.per == "batch":
            payload = self.body(batch) if callable(self.body) else batch.to_pylist()
            status, text = self._call(self.url, json.loads(json.dumps(payload, default=str)))
            return [status] * batch.num_rows, [text] * batch.num_rows
        results = list(self._pool.map(self._row_request, batch.to_pylist()))
        return [s for s, _ in results], [t for _, t in results]

    def _route_rejected(self, batch: pa.RecordBatch, statuses: list[int], bodies: list[str]) -> pa.Array:
        """Send rows answered with a 4xx to the error sink; returns the mask of accepted rows."""
        ok = pa.array([s < 400 for s in statuses], pa.bool_())
        failed = [i for i, s in enumerate(statuses) if s >= 400]
        if failed:
            with self._lock:
                self.rejected += len(failed)
            reasons = pa.array(
                [f"HTTP {statuses[i]} from {self.method} {self.url}: {bodies[i][:BODY_EXCERPT]}" for i in failed]
            )
            rows = batch.take(pa.array(failed))
            errors = getattr(self, "ctx", None) and self.ctx.errors
            if errors is None:
                raise HttpStatusError(
                    f"processor '{self.name}': {len(failed)} row(s) rejected and no error sink to route them to; "
                    f"first: {reasons[0].as_py()}", url=self.url, status=statuses[failed[0]],
                )
            errors.put(rows, self.name, reasons)
        return ok

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            statuses, bodies = self._responses(batch)
            self._route_rejected(batch, statuses, bodies)

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if not self.EMITS:
            self.write(batch)
            return ()
        if batch.num_rows == 0:
            return ()
        statuses, bodies = self._responses(batch)
        ok = self._route_rejected(batch, statuses, bodies)
        out = batch.append_column(RESPONSE_FIELDS[0], pa.array(statuses, pa.int32()))
        out = out.append_column(RESPONSE_FIELDS[1], pa.array(bodies, pa.string()))
        return [out.filter(ok)]

    def close(self, error: BaseException | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None


class HttpCall(HttpSink):
    """`HttpSink` as a transform: emits each accepted row with `http_status` and `http_body` columns."""

    kind: ClassVar[str] = "transform"
    EMITS: ClassVar[bool] = True
