"""Small HTTP services (webhook receivers, fake APIs) from the stdlib's `ThreadingHTTPServer`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def http_service(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` with a `ThreadingHTTPServer` in a daemon thread; yields the base URL (no trailing /)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http-service", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
