"""The whitelisting microservice the example calls: in-memory, stdlib HTTP, started in a thread.

POST /whitelist with {"merchant_id", "offer_code", "start_date", "end_date", "discount"}
  201 whitelisted, 404 unknown merchant, 409 offer code already used by another merchant,
  and, the first time it sees each merchant listed in `flaky`, 503 (to exercise retries).
GET /whitelist lists what is whitelisted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WhitelistState:
    """What the service knows (merchants) and has done (whitelist, attempts), shared by its threads."""

    def __init__(self, merchants: Iterable[str], flaky: Iterable[str] = (),
                 whitelist: dict[str, dict[str, object]] | None = None) -> None:
        self.merchants, self.flaky = set(merchants), set(flaky)
        self.whitelist: dict[str, dict[str, object]] = dict(whitelist or {})
        """Offer code -> the whitelisted offer. Keyed by code, not merchant: a merchant whitelisting a
        second offer keeps its first, so which request lands first never changes who owns a code."""
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()

    def handle(self, offer: dict[str, object]) -> tuple[int, dict[str, object]]:
        merchant = str(offer.get("merchant_id"))
        with self.lock:
            self.attempts[merchant] = self.attempts.get(merchant, 0) + 1
            if merchant in self.flaky and self.attempts[merchant] == 1:
                return 503, {"error": "whitelist store busy, retry"}
            if merchant not in self.merchants:
                return 404, {"error": f"unknown merchant {merchant}"}
            code = str(offer.get("offer_code"))
            owner = self.whitelist.get(code, {}).get("merchant_id", merchant)
            if owner != merchant:
                return 409, {"error": f"offer code {code} already belongs to {owner}"}
            self.whitelist[code] = offer
            return 201, {"whitelisted": merchant}


def _handler(state: WhitelistState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with state.lock:
                self._reply(200, sorted(state.whitelist.values(), key=lambda o: str(o["merchant_id"])))

        def do_POST(self) -> None:
            if self.path != "/whitelist":
                return self._reply(404, {"error": f"no route {self.path}"})
            try:
                offer = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                return self._reply(400, {"error": "body is not JSON"})
            self._reply(*state.handle(offer))

    return Handler


@contextmanager
def running(state: WhitelistState) -> Iterator[str]:
    """Serve `state` on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="whitelist-service", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
