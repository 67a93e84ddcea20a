"""The KV service's HTTP API (Starlette): `/healthz`, `/metrics`, the protobuf RPC endpoint and a JSON API.

- `POST /v1/rpc/<Method>`: the gRPC methods over HTTP/1.1, body and answer a
  serialised protobuf message (what `Client("http://...")` speaks);
- JSON for people and scripts: `GET /v1/namespaces`, `GET /v1/aliases`,
  `GET /v1/kv/<namespace>/<key as base64url>` (the value's bytes, 404 when missing);
- `GET /healthz` (the engine answers) and `GET /metrics` (Prometheus text).

Endpoints are plain functions: Starlette runs them in its thread pool, as the
engines are blocking clients. Over a store that reads asynchronously (Redis),
the point reads (`GET /v1/kv/...`, `POST /v1/rpc/Get|GetMany`) never get here:
`_http_front.HttpFront` answers them on uvicorn's loop and hands every other
request to this app.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from towpath.kv._api import METHODS, put_batches
from towpath.kv._http_front import key_of
from towpath.kv.errors import KvError
from towpath.kv.service import Access, ServiceCore, error_status

__all__ = ["http_app"]

PROTOBUF = "application/x-protobuf"


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    return None if header is None else header.removeprefix("Bearer ").strip()


def _error(exc: KvError) -> JSONResponse:
    status, code = error_status(exc)
    return JSONResponse({"error": str(exc), "type": type(exc).__name__, "code": code}, status_code=status)


def http_app(core: ServiceCore) -> Starlette:
    """The Starlette application serving `core`."""

    def guarded(name: str, access: Access, request: Request, body: Any) -> Response:
        try:
            with core.observe("http", name):
                core.authorize(access, _token(request))
                return body()  # type: ignore[no-any-return]
        except KvError as exc:
            return _error(exc)

    async def rpc(request: Request) -> Response:
        name = request.path_params["method"]
        method = METHODS.get(name)
        if method is None:
            return JSONResponse({"error": f"unknown method {name!r}", "known": sorted(METHODS)}, status_code=404)
        payload = await request.body()

        def body() -> Response:
            try:
                message = method.request.FromString(payload)
            except DecodeError as exc:  # the body is the caller's mistake
                raise KvError(f"{name}: the body is not a serialised {method.request.__name__}: {exc}") from None
            if name == "PutBatch":
                response = put_batches(core.store, [message], core.gate)
                core.rows_written.inc(response.rows)
            else:
                response = method.run(core.store, message)
            return Response(response.SerializeToString(), media_type=PROTOBUF)

        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(guarded, name, method.access, request, body)

    def healthz(request: Request) -> Response:
        try:
            core.store.namespaces()
        except KvError as exc:
            return JSONResponse({"status": "unavailable", "engine": core.store.url, "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "engine": core.store.url})

    def metrics(request: Request) -> Response:
        return Response(generate_latest(core.registry), media_type=CONTENT_TYPE_LATEST)

    def namespaces(request: Request) -> Response:
        return guarded("ListNamespaces", "read", request, lambda: JSONResponse({"namespaces": core.store.namespaces()}))

    def aliases(request: Request) -> Response:
        return guarded("ListAliases", "read", request, lambda: JSONResponse({"aliases": core.store.aliases()}))

    def get(request: Request) -> Response:
        def body() -> Response:
            value = core.store.get(request.path_params["namespace"], key_of(request.path_params["key"]))
            if value is None:
                return JSONResponse({"error": "key not found"}, status_code=404)
            return Response(value, media_type="application/octet-stream")

        return guarded("Get", "read", request, body)

    return Starlette(routes=[
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/v1/rpc/{method}", rpc, methods=["POST"]),
        Route("/v1/namespaces", namespaces),
        Route("/v1/aliases", aliases),
        Route("/v1/kv/{namespace}/{key}", get),
    ])
