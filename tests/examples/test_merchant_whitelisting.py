"""End to end: the merchant-whitelisting example on moto S3 and its local whitelisting service."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, where `examples/` lives

from examples.merchant_whitelisting.demo import SEEDED, run_demo
from examples.merchant_whitelisting.service import WhitelistState

MALFORMED = """\
MEX-200001,NOPE,2024-02-30,2024-03-01,1.00
MEX-100012,SPRING24,2024-03-01,2024-03-31,12.5
,NOMERCH,2024-03-01,2024-03-31,1.00
MEX-100001,"SUMMER 10",2024-03-01,2024-03-31,1.00
MEX-100002,WINTER9,2024-03-01,,1.00
"""


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    csv = Path(__file__).resolve().parents[2] / "examples/merchant_whitelisting/merchants.csv"
    path = tmp_path / "offers.csv"
    path.write_text(csv.read_text() + MALFORMED)
    return path


def test_valid_rows_are_whitelisted_and_every_bad_row_is_reported_with_its_reason(s3_server, upload):
    result = run_demo(s3_server, upload, key="uploads/2024-03/offers.csv")

    # MEX-100002 and MEX-100011 got a 503 first: whitelisted after a retry, not reported.
    assert result.whitelisted == ["MEX-100001", "MEX-100002", "MEX-100003", "MEX-100011", "MEX-100012"]
    assert result.stats.rows_read == 17

    reasons = {(r["row"]["merchant_id"], r["row"]["offer_code"]): (r["processor"], r["reason"]) for r in result.errors}
    assert len(result.errors) == len(reasons) == 12  # each bad row exactly once
    assert reasons[("mex-100004", "LOWER1")] == ("formats", "regex: merchant_id ~ ^MEX-[0-9]{6}$")
    assert reasons[("MEX-100005", None)][1].startswith("required: offer_code")
    assert reasons[("MEX-100006", "PAY2024")] == ("convert", "cast: start_date is not a valid date32[day]")
    assert reasons[("MEX-100007", "TRIPX9")] == ("values", "check: end_date >= start_date")
    assert reasons[("MEX-100008", "BIGSAVE")] == ("formats", r"regex: discount ~ ^[0-9]+(\.[0-9]{1,2})?$")
    assert reasons[("MEX-100009", "FREEMEAL")] == ("values", "range: discount in [0.01, 1000]")
    assert reasons[("MEX-200001", "NOPE")] == ("convert", "cast: start_date is not a valid date32[day]")
    assert reasons[(None, "NOMERCH")][1].startswith("required: merchant_id")
    assert reasons[("MEX-100001", "SUMMER 10")] == ("formats", "regex: offer_code ~ ^[A-Z][A-Z0-9]{3,11}$")
    assert reasons[("MEX-100002", "WINTER9")][1].startswith("required: end_date")
    processor, reason = reasons[("MEX-999999", "GHOST1")]
    assert processor == "whitelist" and reason.startswith("HTTP 404 from POST") and "unknown merchant" in reason
    processor, reason = reasons[("MEX-100010", "OLDPROMO")]
    assert processor == "whitelist" and "HTTP 409" in reason and "already belongs to MEX-100012" in reason
    assert result.report_url == "s3://merchant-ops/reports/offers.errors.jsonl"


def test_who_owns_an_offer_code_does_not_depend_on_the_order_requests_arrive() -> None:
    # The sink posts concurrently: MEX-100012's new offer may land before MEX-100010's claim on
    # the code MEX-100012 already owns. Whitelisting a second offer must not free the first.
    state = WhitelistState(["MEX-100010", "MEX-100012"], whitelist=SEEDED)
    assert state.handle({"merchant_id": "MEX-100012", "offer_code": "SPRING24"})[0] == 201
    status, body = state.handle({"merchant_id": "MEX-100010", "offer_code": "OLDPROMO"})
    assert status == 409 and body["error"] == "offer code OLDPROMO already belongs to MEX-100012"
