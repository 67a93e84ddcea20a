"""Grab's merchant-whitelisting job, on towpath: S3 CSV -> convert + validate -> whitelisting API.

There is no load step: the output is the side effect on the whitelisting
service. Every row that cannot be whitelisted (malformed, unknown merchant,
conflicting offer) lands in the error report with its reason; the rest go on.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from towpath.connectors import CsvSource, HttpRetry, HttpSink
from towpath.pipeline import Cast, Check, Job, PipelineStats, Range, Regex, Required, Validate

COLUMNS = ["merchant_id", "offer_code", "start_date", "end_date", "discount"]

MERCHANT_ID = r"^MEX-[0-9]{6}$"
OFFER_CODE = r"^[A-Z][A-Z0-9]{3,11}$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
AMOUNT = r"^[0-9]+(\.[0-9]{1,2})?$"


def _ends_after_start(batch: pa.RecordBatch) -> pa.Array:
    return pc.greater_equal(batch.column("end_date"), batch.column("start_date"))


def build_job(csv_url: str, service_url: str, error_report: str, *, concurrency: int = 4) -> Job:
    """The job: read the operator's CSV as text, check formats, convert, check values, call the service."""
    job = Job("merchant_whitelisting", errors=error_report)
    job.set_source(CsvSource(csv_url, types={c: "string" for c in COLUMNS}))
    job.set_transformer(
        Validate(
            *(Required(c) for c in COLUMNS),  # one rule per column: the reason names the missing field
            Regex("merchant_id", MERCHANT_ID),
            Regex("offer_code", OFFER_CODE),
            Regex("start_date", DATE),
            Regex("end_date", DATE),
            Regex("discount", AMOUNT),
            name="formats",
        ),
        Cast({"start_date": "date32", "end_date": "date32", "discount": "float64"}, name="convert"),
        Validate(
            Range("discount", 0.01, 1000),
            Check(_ends_after_start, name="end_date >= start_date"),
            name="values",
        ),
        HttpSink(
            f"{service_url}/whitelist",
            concurrency=concurrency,
            retry=HttpRetry(attempts=4, backoff=0.05),
            body={c: "{" + c + "}" for c in COLUMNS},
            name="whitelist",
        ),
    )
    return job


def run(csv_url: str, service_url: str, error_report: str) -> PipelineStats:
    """Run the job once; returns its stats (rows read, whitelisted, routed to the report)."""
    return build_job(csv_url, service_url, error_report).execute()
