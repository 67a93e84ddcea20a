"""How the pipeline runs: concurrency, backpressure, ordering, fan-out, failures, retries, Ctrl-C, stats."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import CountingSource, FailOn, Flaky, Sleep, SlowSink, numbers

from towpath.connectors.files import ParquetSink
from towpath.errors import PipelineError
from towpath.pipeline import (
    Collect,
    Map,
    Pipeline,
    PipelineDefinitionError,
    Processor,
    ProcessorFailedError,
    Retry,
    Stage,
    TableSource,
    step,
)


class Handshake(Processor):
    """`a` holds its second batch until `b` started its first, and `b` holds its first until then.

    Only processors that really run at the same time get through; one after the other, the
    wait times out and the processor fails.
    """

    def __init__(self, name: str, mine: threading.Event, theirs: threading.Event, at_call: int) -> None:
        self.name, self.mine, self.theirs, self.at_call, self.calls = name, mine, theirs, at_call, 0

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if self.calls == self.at_call:
            self.mine.set()
            if not self.theirs.wait(10):
                raise TimeoutError(f"{self.name} ran alone")
        self.calls += 1
        yield batch


def test_two_processors_of_consecutive_stages_run_at_the_same_time() -> None:
    a_on_second, b_on_first = threading.Event(), threading.Event()
    sink = Collect()
    pipeline = Pipeline([
        TableSource(numbers(100), batch_rows=10),
        Handshake("a", a_on_second, b_on_first, at_call=1), Handshake("b", b_on_first, a_on_second, at_call=0), sink,
    ])
    pipeline.run()
    assert sink.table is not None and sink.table.column("id").to_pylist() == list(range(100))


def test_a_slow_sink_bounds_the_batches_in_flight() -> None:
    source = CountingSource(200, rows=5)
    pipeline = Pipeline([source, Map(lambda b: b, name="pass"), SlowSink(0.005)], queue_size=2)
    holder: dict[str, int] = {"max_ahead": 0}

    def watch(stats) -> None:
        ahead = stats.processor("countingsource").rows_out - stats.processor("slowsink").rows_in
        holder["max_ahead"] = max(holder["max_ahead"], ahead // 5)

    pipeline.run(progress=watch, progress_interval=0.01)
    peaks = pipeline.peak_queue_occupancy()
    assert peaks["pass"] <= 2 and peaks["slowsink"] <= 2
    # at most: 2 queued before pass + 1 in pass + 2 queued before the sink + 1 being written (+1 in a put)
    assert holder["max_ahead"] <= 7, holder


class MeetThenSleep(Sleep):
    """The first four batches wait for each other (only four workers at once get past), then each sleeps."""

    def __init__(self) -> None:
        super().__init__(0.01, jitter=True, name="sleep")
        self.four = threading.Barrier(4, timeout=10)  # shared by the workers' shallow copies

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.column("id")[0].as_py() < 40:
            self.four.wait()
        yield from super().process(batch)


@pytest.mark.parametrize("ordered", [True, False])
def test_concurrency_four_keeps_order_unless_told_not_to(ordered: bool) -> None:
    sink = Collect()
    pipeline = Pipeline([
        TableSource(numbers(400), batch_rows=10),
        step(MeetThenSleep(), concurrency=4, ordered=ordered),
        sink,
    ])
    stats = pipeline.run()
    ids = sink.table.column("id").to_pylist()
    assert sorted(ids) == list(range(400))
    assert (ids == list(range(400))) is ordered
    assert stats.processor("sleep").workers == 4 and stats.processor("sleep").rows_in == 400


def test_fan_out_stage_sends_every_batch_to_each_processor_and_merges_their_outputs() -> None:
    sink = Collect()
    pipeline = Pipeline([
        TableSource(numbers(50), batch_rows=10),
        Stage(Map(lambda b: b.select(["id"]), name="ids"),
              Map(lambda b: pa.record_batch({"id": pa.compute.negate(b.column("id"))}), name="negated")),
        sink,
    ])
    stats = pipeline.run()
    ids = sorted(sink.table.column("id").to_pylist())
    assert ids == sorted(list(range(50)) + [-i for i in range(50)])
    assert stats.processor("ids").rows_in == 50 and stats.processor("negated").rows_in == 50
    assert stats.rows_written == 100


def pipeline_threads() -> list[str]:
    """The pipeline's worker threads still alive (named `towpath:<processor>#<n>`).

    Not `threading.active_count()`: other threads of the test process (servers of session
    fixtures, run heartbeats) come and go on their own.
    """
    return [t.name for t in threading.enumerate() if t.name.startswith("towpath:")]


def test_failure_in_a_middle_processor_stops_everything_and_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    pipeline = Pipeline([CountingSource(1000), FailOn(3), ParquetSink(str(out))], queue_size=2)
    with pytest.raises(PipelineError) as info:
        pipeline.run()
    err = info.value
    assert isinstance(err, ProcessorFailedError)
    assert err.processor == "failon" and err.batch_index == 3
    assert "processor 'failon' failed on batch 3: ValueError: boom" in str(err)
    assert isinstance(err.__cause__, ValueError)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # the temp file is gone too
    assert pipeline_threads() == []  # every worker joined
    assert pipeline.stats().processor("failon").status == "failed"
    assert pipeline.stats().processor("countingsource").rows_out < 1000  # the source was stopped early


def test_transient_errors_are_retried_with_backoff() -> None:
    sink = Collect()
    flaky = Flaky(failures=2)
    pipeline = Pipeline([TableSource(numbers(30), batch_rows=10),
                         step(flaky, retry=Retry(attempts=3, backoff=0.05)), sink])
    t0 = time.perf_counter()
    stats = pipeline.run()
    assert time.perf_counter() - t0 >= 0.05 + 0.1  # two waits: 50 ms, then 100 ms
    assert stats.processor("flaky").retries == 2
    assert sink.table.column("id").to_pylist() == list(range(30))


def test_retries_give_up_after_the_last_attempt() -> None:
    pipeline = Pipeline([TableSource(numbers(10)), step(Flaky(failures=5), retry=Retry(attempts=2, backoff=0.01)),
                         Collect()])
    with pytest.raises(ProcessorFailedError, match="try 2 failed") as info:
        pipeline.run()
    assert info.value.batch_index == 0


def test_keyboard_interrupt_stops_cleanly_and_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    pipeline = Pipeline([CountingSource(100, interrupt_at=5), ParquetSink(str(out))])
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    assert list(tmp_path.iterdir()) == []
    assert pipeline_threads() == []  # every worker joined


SIGINT_SCRIPT = """
import sys, time, pyarrow as pa
from towpath.pipeline import Pipeline, Source, Map
from towpath.connectors.files import ParquetSink

class Endless(Source):
    def read(self):
        i = 0
        while True:
            i += 1
            if i == 3:
                print("running", flush=True)
            time.sleep(0.01)
            yield pa.record_batch({"id": [i]})

try:
    Pipeline([Endless(), Map(lambda b: b), ParquetSink(sys.argv[1])]).run()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_sigint_to_a_running_pipeline_closes_sinks_without_output(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "out.parquet"
    script = tmp_path / "run.py"
    script.write_text(SIGINT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted" in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.py"]


def test_stats_counts_are_exact_and_json_ready() -> None:
    import json

    pipeline = Pipeline([TableSource(numbers(95), batch_rows=10),
                         Map(lambda b: b.filter(pa.compute.less(b.column("id"), 50)), name="half"), Collect()])
    stats = pipeline.run()
    source, half, sink = stats.processors
    assert (source.rows_out, source.batches_out) == (95, 10)
    assert (half.rows_in, half.batches_in, half.rows_out) == (95, 10, 50)
    assert (sink.rows_in, sink.kind, sink.status) == (50, "sink", "done")
    assert half.bytes_in == 95 * 16 and half.bytes_out == 50 * 16
    assert stats.rows_read == 95 and stats.rows_written == 50 and stats.rows_error == 0
    data = json.loads(json.dumps(stats.to_dict()))
    assert data["processors"][1]["rows_out"] == 50 and data["rows_per_second"] > 0


def test_wiring_mistakes_are_reported_before_running() -> None:
    with pytest.raises(PipelineDefinitionError, match="stage 0 must hold only sources"):
        Pipeline([Collect()])
    with pytest.raises(PipelineDefinitionError, match="cannot run with concurrency > 1"):
        Pipeline([TableSource(numbers(1)), step(Collect(), concurrency=2)])
