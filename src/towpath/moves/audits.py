"""Audits of a written version, before its alias moves (WAP for key-value stores).

Always: the version holds exactly as many keys as the source has distinct
keys, and its keys and values decode with the version's own compiled schema.
Listed in the job: `sample_matches_source` (source rows sampled while the move
streamed, read back by key and compared value by value after decoding) and
`min_rows`. The sample is drawn uniformly during the write pass; with
`on_duplicate: last` a sampled key's later rows replace the sampled one, so the
comparison is with the row that won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from towpath.moves.spec import MinRows, MoveSpec, SampleMatchesSource
from towpath.protobuf import DecodeError, Decoder, ProtoSchema, comparable, compile_schema

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.moves.validate import Validated

_KEY, _SEQ = "__towpath_key", "__towpath_seq"
DECODE_CHECK_ROWS = 1000


@dataclass(frozen=True)
class AuditOutcome:
    name: str
    status: str
    """`passed` or `failed`."""
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


class Sampler:
    """Keeps a uniform sample of source rows (with their encoded keys) while the move streams."""

    def __init__(self, spec: MoveSpec, proto: ProtoSchema, expected_rows: int) -> None:
        wanted = [a.rows for a in spec.key_value_dal.audits if isinstance(a, SampleMatchesSource)]
        self.wanted = max(wanted, default=0)
        self.rate = min(1.0, self.wanted / expected_rows) if expected_rows else 1.0
        self.last_wins = spec.data_movement.on_duplicate == "last"
        self.columns = [f.arrow.name for f in proto.value.fields]
        self._rng = np.random.default_rng()
        self._parts: list[pa.Table] = []
        self._keys: pa.Array | None = None
        self._seen = 0
        self._taken = 0

    def observe(self, batch: pa.RecordBatch, keys: pa.BinaryArray, *, every_row: bool = False) -> None:
        """Sample from one batch in source order (`every_row`: take all of it, up to the wanted size)."""
        if not self.wanted:
            return
        n = batch.num_rows
        pick = np.ones(n, dtype=bool) if every_row else self._rng.random(n) < self.rate
        if self._taken >= self.wanted:
            pick[:] = False
        if self.last_wins and self._keys is not None:
            pick |= np.asarray(pc.is_in(keys, value_set=self._keys).fill_null(False), dtype=bool)
        if pick.any():
            mask = pa.array(pick)
            rows = pa.Table.from_batches([batch]).select(self.columns).filter(mask)
            rows = rows.append_column(_KEY, keys.filter(mask)).append_column(
                _SEQ, pa.array(np.flatnonzero(pick) + self._seen, pa.int64()))
            self._parts.append(rows)
            self._taken += rows.num_rows
            self._keys = pa.concat_arrays([k.combine_chunks() for k in (t.column(_KEY) for t in self._parts)])
        self._seen += n

    def sample(self) -> pa.Table | None:
        """The sampled rows, one per key (the last one seen), with the encoded key in `__towpath_key`."""
        if not self._parts:
            return None
        rows = pa.concat_tables(self._parts)
        last = rows.group_by(_KEY).aggregate([(_SEQ, "max")])
        return rows.filter(pc.is_in(rows.column(_SEQ), value_set=last.column(f"{_SEQ}_max")))


def audit_version(
    spec: MoveSpec, store: KvStore, namespace: str, proto: ProtoSchema, checked: Validated, sampler: Sampler,
) -> list[AuditOutcome]:
    count = store.count(namespace)
    outcomes = [AuditOutcome(
        "row_count", "passed" if count == checked.keys else "failed",
        f"{count:,} keys written, the source has {checked.keys:,} distinct keys ({checked.rows:,} rows)",
    )]
    decoder = Decoder(compile_schema(proto))
    outcomes.append(_decodes(store, namespace, decoder))
    for audit in spec.key_value_dal.audits:
        if isinstance(audit, SampleMatchesSource):
            outcomes.append(_sample_matches(store, namespace, decoder, sampler))
        elif isinstance(audit, MinRows):
            outcomes.append(AuditOutcome(
                "min_rows", "passed" if count >= audit.rows else "failed", f"{count:,} keys, at least {audit.rows:,} wanted"))
    return outcomes


def _decodes(store: KvStore, namespace: str, decoder: Decoder) -> AuditOutcome:
    items, _ = store.scan(namespace, None, DECODE_CHECK_ROWS)
    try:
        decoder.decode_keys([k for k, _ in items])
        decoder.decode_values([v for _, v in items])
    except DecodeError as exc:
        return AuditOutcome("keys_decode", "failed", str(exc))
    return AuditOutcome("keys_decode", "passed", f"{len(items):,} keys and values decode with the version's schema")


def _sample_matches(store: KvStore, namespace: str, decoder: Decoder, sampler: Sampler) -> AuditOutcome:
    sample = sampler.sample()
    if sample is None:
        return AuditOutcome("sample_matches_source", "passed", "the source is empty: nothing to sample")
    got = store.get_many(namespace, sample.column(_KEY).combine_chunks())
    missing = sum(1 for v in got if v is None)
    decoded = decoder.decode_values(got)
    bad = 0
    example = ""
    for column in sampler.columns:
        for position, (want, have) in enumerate(zip(sample.column(column).to_pylist(), decoded.column(column).to_pylist(),
                                                    strict=True)):
            if got[position] is not None and comparable(want) != comparable(have):
                bad += 1
                example = example or f"{column}: source {want!r}, stored {have!r}"
    if missing or bad:
        return AuditOutcome("sample_matches_source", "failed",
                            f"of {sample.num_rows:,} sampled keys, {missing} missing and {bad} values differ ({example})")
    return AuditOutcome("sample_matches_source", "passed", f"{sample.num_rows:,} sampled keys match the source value by value")
