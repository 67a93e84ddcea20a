"""`towpath kv serve`: one process serving a `KvStore` over HTTP (Starlette on uvicorn) and gRPC.

Both APIs go through `ServiceCore`, which owns what they share: the token check
(writes and admin calls need the write token; reads need the read token when
one is set), the Prometheus metrics (`towpath_kv_requests_total`,
`towpath_kv_request_seconds`, `towpath_kv_rows_written_total`), and turning a
`KvError` into a status each protocol understands. A service bound beyond
loopback refuses to start without a write token: an open write API on a
network is never a default.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from towpath.kv.errors import (
    InvalidNameError,
    KvAuthError,
    KvError,
    KvUnavailableError,
    KvUrlError,
    NamespaceExistsError,
    NamespaceInUseError,
    NamespaceNotFoundError,
)
from towpath.kv.pacing import ReadPacer, WriteGate
from towpath.kv.store import KvStore

__all__ = [
    "PACED_READS", "Access", "KvService", "ServiceConfig", "ServiceCore", "check_config", "error_status", "is_loopback", "token_matches",
]

T = TypeVar("T")

Access = Literal["read", "write"]
"""What a call needs: `read` (gets, scans, listings) or `write` (puts, deletes, namespaces, aliases)."""

PACED_READS = frozenset({"Get", "GetMany"})
"""The reads whose latency paces the writes: point lookups, what a service's callers wait on (not scans)."""

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


@dataclass(frozen=True)
class ServiceConfig:
    """How `towpath kv serve` listens and whom it lets in."""

    engine: str = "embedded"
    """The engine URL the service fronts (`embedded`, `redis://...`, `postgresql://...`)."""
    host: str = "127.0.0.1"
    port: int = 8470
    """The HTTP port (0: none)."""
    grpc_port: int = 8471
    """The gRPC port (0: none)."""
    token: str | None = None
    """The write/admin token (`Authorization: Bearer <token>`); required when `host` is not loopback."""
    read_token: str | None = None
    """When set, reads need it (or the write token) too."""
    workers: int = 16
    """Threads serving gRPC calls."""
    write_processes: int = 2
    """Processes writing gRPC put-batches into a network engine (Redis, PostgreSQL), at a lower CPU
    priority, so a bulk load never holds the GIL the reads need (0: the service's threads write)."""
    read_budget_ms: float = 2.0
    """While the service answers Gets, put-batches are paced so that the p99 of its Get latency stays under
    this (`pacing.py`); 0: writes are never paced."""
    min_write_rate: int = 10_000
    """Rows per second a paced move still writes however slow reads get: it always finishes."""


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def check_config(config: ServiceConfig) -> None:
    """Refuse to serve writes to the network without a token (nothing is started)."""
    if config.token is None and not is_loopback(config.host):
        raise KvAuthError(
            f"refusing to serve on {config.host} without a write token: pass --token (or set TOWPATH_KV_TOKEN); "
            "only a loopback host (127.0.0.1) may serve without one"
        )
    if config.port == 0 and config.grpc_port == 0:
        raise KvUrlError("nothing to serve: both --port and --grpc-port are 0")


def error_status(exc: KvError) -> tuple[int, str]:
    """(HTTP status, gRPC status code name) for a `KvError`."""
    for kind, status in (
        (NamespaceNotFoundError, (404, "NOT_FOUND")), (NamespaceExistsError, (409, "ALREADY_EXISTS")),
        (NamespaceInUseError, (409, "FAILED_PRECONDITION")), (InvalidNameError, (400, "INVALID_ARGUMENT")),
        (KvAuthError, (401, "UNAUTHENTICATED")), (KvUnavailableError, (503, "UNAVAILABLE")),
    ):
        if isinstance(exc, kind):
            return status
    return 400, "INVALID_ARGUMENT"


@dataclass
class ServiceCore:
    """The store behind both APIs, with the auth check and the metrics they share."""

    store: KvStore
    config: ServiceConfig
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("towpath_kv_requests", "KV service calls, by API, method and outcome",
                                ["api", "method", "code"], registry=self.registry)
        self.latency = Histogram("towpath_kv_request_seconds", "KV service call latency", ["api", "method"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self._latency_of: dict[tuple[str, str], Any] = {}
        self._requests_of: dict[tuple[str, str, str], Any] = {}
        self.rows_written = Counter("towpath_kv_rows_written", "rows written by put-batch calls",
                                    registry=self.registry)
        self.gate = WriteGate()
        """Every put-batch of either API is admitted here (and in the writer processes, which share it)."""
        budget = self.config.read_budget_ms / 1000
        self.pacer = ReadPacer(self.gate, budget, self.config.min_write_rate) if budget > 0 else None
        Gauge("towpath_kv_read_budget_seconds", "the Get p99 put-batches are paced to hold (0: never paced)",
              registry=self.registry).set(budget)
        Gauge("towpath_kv_write_rate_limit_rows", "rows/s put-batches are admitted at now (0: no limit)",
              registry=self.registry).set_function(lambda: self.gate.rate)

    def authorize(self, access: Access, presented: str | None) -> None:
        """Raise `KvAuthError` unless `presented` grants `access`."""
        write, read = self.config.token, self.config.read_token
        if access == "write":
            if write is not None and not token_matches(presented, write):
                raise KvAuthError("this call needs the write token (Authorization: Bearer <token>)"
                                  if presented is None else "invalid token for a write call")
            return
        if read is not None and not (token_matches(presented, read) or (write is not None and token_matches(presented, write))):
            raise KvAuthError("this call needs the read token (Authorization: Bearer <token>)"
                              if presented is None else "invalid token for a read call")

    @contextmanager
    def observe(self, api: str, method: str) -> Iterator[Callable[[str], None]]:
        """Time one call and count it with its outcome (`ok`, or the error's status code name)."""
        outcome = ["ok"]
        start = time.perf_counter()
        try:
            yield lambda code: outcome.__setitem__(0, code)
        except KvError as exc:
            outcome[0] = error_status(exc)[1]
            raise
        except Exception:
            outcome[0] = "INTERNAL"
            raise
        finally:
            self.record(api, method, outcome[0], time.perf_counter() - start)

    def record(self, api: str, method: str, code: str, seconds: float) -> None:
        """Count one call that took `seconds` with its outcome, and tell the pacer when it was a point read
        (what `observe` does after the call; the HTTP point-read path calls it directly)."""
        timer = self._latency_of.get((api, method))
        if timer is None:  # prometheus_client's labels() is a locked dict look-up: once per label set here
            timer = self._latency_of[(api, method)] = self.latency.labels(api, method)
        timer.observe(seconds)
        counter = self._requests_of.get((api, method, code))
        if counter is None:
            counter = self._requests_of[(api, method, code)] = self.requests.labels(api, method, code)
        counter.inc()
        if self.pacer is not None and method in PACED_READS:
            self.pacer.observe(seconds, api)


def _serve_http(server: Any, sock: socket.socket, pacer: ReadPacer | None) -> None:
    """Run uvicorn's `server` on `sock` until it exits, on a loop of this thread: uvloop's when installed (about
    a third of the stdlib loop's CPU per request), with the pacer's lag probe (the point reads run here too)."""
    import asyncio

    from towpath.kv.pacing import probe_lag

    try:
        import uvloop
    except ImportError:
        factory = asyncio.new_event_loop
    else:
        factory = uvloop.new_event_loop

    async def serve() -> None:
        probe = asyncio.create_task(probe_lag(pacer, "http")) if pacer is not None else None
        try:
            await server.serve(sockets=[sock])
        finally:
            if probe is not None:
                probe.cancel()

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve())


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether a presented bearer token is `expected`, compared in constant time (the console checks its own
    token with this too, so both servers accept and refuse tokens the same way)."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


class KvService:
    """A running `towpath kv serve`: the HTTP and gRPC servers over one store, stopped by `stop()`.

    `with KvService(config) as service:` starts both (ports 0 pick free ones; the
    bound ones are `service.port` / `service.grpc_port`) and stops them after.
    """

    def __init__(self, config: ServiceConfig, store: KvStore | None = None) -> None:
        from towpath.kv.engines import open_store

        check_config(config)
        self.config = config
        self.store = store if store is not None else open_store(config.engine)
        self.core = ServiceCore(self.store, config)
        self.port = 0
        self.grpc_port = 0
        self._grpc: Any = None
        self._http: Any = None
        self._thread: Any = None

    def start(self) -> Self:
        import threading

        import uvicorn

        from towpath.kv._grpc import GrpcServer
        from towpath.kv._http import http_app
        from towpath.kv._http_front import front_protocol

        if self.config.grpc_port != 0 or self.config.port == 0:
            self._grpc = GrpcServer(self.core, self.config.host, self.config.grpc_port)
            self.grpc_port = self._grpc.port
        if self.config.port != 0:
            sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.config.host, self.config.port))
            except OSError as exc:
                self.stop()
                raise KvError(f"cannot listen for HTTP on {self.config.host}:{self.config.port}: {exc.strerror}") from None
            self.port = sock.getsockname()[1]
            # point reads are answered by `HttpFront` on the loop when the store reads asynchronously
            front = front_protocol(self.core) if getattr(self.store, "reads_async", False) else "auto"
            server = uvicorn.Server(uvicorn.Config(http_app(self.core), http=front, log_level="warning",
                                                   access_log=False, lifespan="off"))
            thread = threading.Thread(target=_serve_http, args=(server, sock, self.core.pacer),
                                      name="towpath-kv-http", daemon=True)
            thread.start()
            deadline = time.monotonic() + 20
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not server.started:
                self.stop()
                raise KvError(f"the HTTP server did not start on {self.config.host}:{self.port}")
            self._http, self._thread = server, thread
        if self.core.pacer is not None:
            self.core.pacer.start()
        return self

    def stop(self) -> None:
        if self.core.pacer is not None:
            self.core.pacer.stop()
        if self._http is not None:
            self._http.should_exit = True
            self._thread.join(10)
            self._http = None
        if self._grpc is not None:
            self._grpc.stop()
            self._grpc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.store.close()
