"""Synthetic data of the health-and-wellness company, as Arrow tables, the same for the same seed.

Four stores, as in the post: patient profiles and recent claims (the
MySQL-compatible EHR/claims database), claim history by year (the lake) and a
device summary per patient (steps, sleep, pulse; the KV store). Most patients
are healthy. A few are planted so the urgent-care query has a known answer:

- `urgent`: a device anomaly (resting pulse over 100, under 4.5 h of sleep or
  under 1,500 steps a day), an emergency claim in the last 30 days and a
  chronic condition on the profile;
- decoys that have only some of the three (an anomaly without a recent ER
  claim, an ER claim with normal device data, both without a condition), which
  the query must leave out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

AS_OF = dt.date(2026, 12, 1)
"""The example's "today": recent claims are the 30 days before it."""

STATES = ["CA", "NY", "TX", "WA", "FL", "IL"]
PLANS = ["bronze", "silver", "gold"]
CONDITIONS = ["", "", "", "diabetes", "hypertension", "asthma", "heart_disease"]
FIRST = ["Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mo", "Noor"]
LAST = ["Alvarez", "Brown", "Cohen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones", "Khan", "Li"]


@dataclass
class HealthData:
    """Every table of the example and the patients the urgent-care query must find."""

    patients: pa.Table
    claims: pa.Table
    claim_history: pa.Table
    devices: pa.Table
    urgent: list[int] = field(default_factory=list)
    """Patient ids with all three signs, sorted."""
    decoys: list[int] = field(default_factory=list)
    """Patient ids with only some of them."""


def generate(patients: int = 2000, *, seed: int = 11) -> HealthData:
    """`patients` profiles (at least 100), their claims, history and device summaries."""
    if patients < 100:
        raise ValueError("the example needs at least 100 patients to plant its cases")
    rng = np.random.default_rng(seed)
    ids = np.arange(1, patients + 1, dtype=np.int32)
    conditions = rng.choice(CONDITIONS, patients)
    planted = rng.choice(ids, 40, replace=False)
    urgent, decoy_device, decoy_claim, decoy_healthy = (sorted(int(i) for i in planted[k::4]) for k in range(4))
    chronic = np.array([c or "hypertension" for c in conditions])
    for group in (urgent, decoy_device, decoy_claim):
        conditions[np.array(group) - 1] = chronic[np.array(group) - 1]
    conditions[np.array(decoy_healthy) - 1] = ""

    profiles = pa.table({
        "patient_id": ids,
        "name": [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(patients)],
        "birth_date": pa.array([AS_OF - dt.timedelta(days=int(d)) for d in rng.integers(18 * 365, 90 * 365, patients)]),
        "state": rng.choice(STATES, patients),
        "plan": rng.choice(PLANS, patients),
        "conditions": conditions,
        "email": [f"patient{i}@example.org" for i in ids],
        "updated_at": pa.array([dt.datetime(2026, 1, 1) + dt.timedelta(minutes=int(m))
                                for m in rng.integers(0, 300 * 24 * 60, patients)], pa.timestamp("us")),
    })

    anomalous = np.zeros(patients, bool)
    anomalous[np.array(urgent + decoy_device + decoy_healthy) - 1] = True
    pulse = np.where(anomalous, rng.integers(101, 130, patients), rng.integers(55, 86, patients)).astype(np.int32)
    sleep = np.where(anomalous, rng.uniform(3.0, 4.4, patients), rng.uniform(6.0, 8.5, patients)).round(1)
    steps = np.where(anomalous, rng.integers(300, 1400, patients), rng.integers(4000, 12000, patients)).astype(np.int32)
    devices = pa.table({
        "patient_id": ids,
        "steps": steps,
        "sleep_hours": sleep,
        "resting_pulse": pulse,
        "max_pulse": (pulse + rng.integers(30, 70, patients)).astype(np.int32),
        "last_sync": pa.array([dt.datetime(2026, 11, 30, 6, 0) + dt.timedelta(minutes=int(m))
                               for m in rng.integers(0, 24 * 60, patients)], pa.timestamp("us", tz="UTC")),
    })

    claim_rows = _claims(rng, ids, recent_er=set(urgent + decoy_claim + decoy_healthy))
    history = _history(rng, ids)
    return HealthData(profiles, claim_rows, history, devices, urgent=urgent,
                      decoys=sorted(decoy_device + decoy_claim + decoy_healthy))


def _claims(rng: np.random.Generator, ids: np.ndarray, *, recent_er: set[int]) -> pa.Table:
    """Two to six claims a patient over the last year; ER claims in the last 30 days only for `recent_er`."""
    counts = rng.integers(2, 7, len(ids))
    patient = np.repeat(ids, counts)
    n = len(patient)
    days_ago = rng.integers(31, 365, n)
    kind = rng.choice(["primary", "specialist", "pharmacy", "er"], n, p=[0.5, 0.2, 0.25, 0.05])
    extra = np.array(sorted(recent_er), dtype=np.int32)
    patient = np.concatenate([patient, extra])
    days_ago = np.concatenate([days_ago, rng.integers(1, 29, len(extra))])
    kind = np.concatenate([kind, np.full(len(extra), "er")])
    diagnosis = np.where(kind == "er", rng.choice(["R07", "I21", "R06"], len(kind)),
                         rng.choice(["Z00", "E11", "J45", "I10"], len(kind)))
    return pa.table({
        "claim_id": pa.array(np.arange(1, len(patient) + 1, dtype=np.int32)),
        "patient_id": pa.array(patient.astype(np.int32)),
        "claim_date": pa.array([AS_OF - dt.timedelta(days=int(d)) for d in days_ago]),
        "kind": kind,
        "diagnosis": diagnosis,
        "amount": pa.array(np.where(kind == "er", rng.uniform(900, 9000, len(kind)),
                                    rng.uniform(20, 600, len(kind))).round(2)),
        "status": rng.choice(["paid", "paid", "paid", "pending", "denied"], len(kind)),
    })


def _history(rng: np.random.Generator, ids: np.ndarray) -> pa.Table:
    """One row a patient a year, 2019-2025: claims, ER visits and the amount paid."""
    years = np.arange(2019, 2026, dtype=np.int32)
    patient = np.repeat(ids, len(years))
    year = np.tile(years, len(ids))
    claims = rng.poisson(4, len(patient)).astype(np.int32)
    return pa.table({
        "patient_id": pa.array(patient),
        "year": pa.array(year),
        "claims": pa.array(claims),
        "er_visits": pa.array(rng.binomial(claims, 0.08).astype(np.int32)),
        "paid": pa.array((claims * rng.uniform(80, 400, len(patient))).round(2)),
    })
