"""Run the example end to end: upload the operator's CSV to S3, start the service, run the job.

Used by `python -m examples.merchant_whitelisting` (with its own moto server)
and by the example's test (with the session's moto server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from examples.merchant_whitelisting.pipeline import run
from examples.merchant_whitelisting.service import WhitelistState, running

BUCKET = "merchant-ops"
SAMPLE_CSV = Path(__file__).with_name("merchants.csv")

KNOWN_MERCHANTS = [f"MEX-1000{i:02d}" for i in range(1, 13)]
FLAKY_MERCHANTS = ["MEX-100002", "MEX-100011"]
"""The service answers 503 the first time it sees these, so the job must retry."""
SEEDED = {"OLDPROMO": {"merchant_id": "MEX-100012", "offer_code": "OLDPROMO"}}
"""Offers whitelisted before the run (offer code -> offer): MEX-100010's OLDPROMO must get a 409."""


@dataclass
class DemoResult:
    stats: Any
    whitelisted: list[str]
    """Merchant ids the service whitelisted during this run."""
    errors: list[dict[str, Any]]
    """The error report: one record per rejected row (`processor`, `reason`, `row` as a dict)."""
    report_url: str


def run_demo(endpoint: str, csv_path: Path = SAMPLE_CSV, *, key: str = "uploads/offers.csv") -> DemoResult:
    """Upload `csv_path` to s3://merchant-ops/KEY on `endpoint`, run the job, read back the error report."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(csv_path), BUCKET, key)
    report_key = f"reports/{Path(key).stem}.errors.jsonl"
    state = WhitelistState(KNOWN_MERCHANTS, FLAKY_MERCHANTS, whitelist=SEEDED)
    with running(state) as service_url:
        stats = run(f"s3://{BUCKET}/{key}", service_url, f"s3://{BUCKET}/{report_key}")
    body = s3.get_object(Bucket=BUCKET, Key=report_key)["Body"].read().decode()
    errors = [json.loads(line) for line in body.splitlines() if line.strip()]
    for record in errors:
        record["row"] = json.loads(record["row"])
    whitelisted = sorted({str(offer["merchant_id"]) for code, offer in state.whitelist.items() if SEEDED.get(code) != offer})
    return DemoResult(stats, whitelisted, errors, f"s3://{BUCKET}/{report_key}")
