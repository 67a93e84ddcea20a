"""Grab's merchant-whitelisting pipeline (Ratchet) as a towpath example; see README.md."""

from examples.merchant_whitelisting.pipeline import build_job, run

__all__ = ["build_job", "run"]
