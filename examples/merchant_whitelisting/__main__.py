"""`python -m examples.merchant_whitelisting`: the whole flow on a throwaway S3 (moto) and service."""

from __future__ import annotations

import os
import socket

from examples.merchant_whitelisting.demo import run_demo
from moto.server import ThreadedMotoServer


def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=endpoint)
    try:
        result = run_demo(endpoint)
    finally:
        server.stop()
    print(f"read {result.stats.rows_read} rows; whitelisted {len(result.whitelisted)}: {', '.join(result.whitelisted)}")
    print(f"{len(result.errors)} rows in the error report {result.report_url}:")
    for record in result.errors:
        print(f"  {record['row'].get('merchant_id')!s:12} {record['processor']:10} {record['reason']}")


if __name__ == "__main__":
    main()
