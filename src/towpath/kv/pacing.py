"""Reads before bulk writes: the KV service paces a move's put-batches while it is serving reads.

A move at full speed takes every core a small machine has (the move's encoder,
the service's writers, Redis), and a Get waiting for CPU waits behind it:
measured, p99 1.3 s at 2,000 Gets/s during a 10M-row move. So the service runs
admission control on its writes, driven by what its readers see:

- `WriteGate` is a token bucket (a virtual clock, shared by the service and its
  writer processes through shared memory): a writer asks it before each chunk of
  `CHUNK_ROWS` rows and sleeps until its slot. Rate 0 is no limit: a move with
  nobody reading writes whole batches, as fast as before.
- `ReadPacer` (a thread of the service) watches the latency of every read the
  service answers. Every `INTERVAL` it takes the window's p99, the event loop's
  lag (a read queued behind a busy loop waits before its handler starts, where
  no handler can time it) and how late its own wake-up was (a starved process
  is late for everything), and runs AIMD
  against the read-latency budget: over the budget, the write rate halves; under
  it, it grows by `STEP` of the highest rate seen. With no read for `IDLE_AFTER`,
  the limit is lifted.

A paced writer holds its batch longer, so the service reads the move's stream
more slowly, gRPC's flow control stops the client's sends, and the move's
encoder blocks on its queue: the whole pipeline slows to the admitted rate
without any protocol of its own, and every row still arrives.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CHUNK_ROWS", "IDLE_AFTER", "IDLE_PROBE", "INTERVAL", "LAG_PROBE", "STEP", "ReadPacer", "WriteGate", "probe_lag"]

CHUNK_ROWS = 2_000
"""Rows a paced writer sends in one pipeline: about 0.2 MiB of `HSET`s, a millisecond of Redis's time."""

INTERVAL = 0.05
"""Seconds between two decisions of the pacer (about 100 reads at 2,000 req/s)."""

LAG_PROBE = 0.005
"""Seconds between two wake-ups of the loop's lag probe (see `ReadPacer.lagged`)."""

IDLE_PROBE = 0.1
"""Seconds between two looks of an idle loop's lag probe at whether its API reads again."""

IDLE_AFTER = 1.0
"""Seconds without a read after which writes go unpaced again."""

STEP = 0.01
"""Additive increase per interval, as a fraction of the highest write rate measured (20 % of it a second)."""

SMOOTHING = 0.2
"""Weight of the latest interval in the measured write rate (batches arrive in bursts of tens of thousands of rows)."""

_RATE, _NEXT, _ROWS = range(3)


class WriteGate:
    """A token bucket of rows per second, shared with spawned writer processes (pass it in their `initargs`).

    The bucket is a virtual clock (GCRA): the next free moment, pushed forward by
    `rows / rate` per admission, so writers share one rate whatever their number.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._shared: Any = context.RawArray("d", 3)  # rate (0: unlimited), next free moment, rows admitted
        self._lock: Any = context.Lock()

    @property
    def rate(self) -> float:
        """Rows per second admitted now (0: no limit)."""
        return float(self._shared[_RATE])

    @property
    def admitted(self) -> int:
        """Rows admitted since the gate was made (paced or not)."""
        return int(self._shared[_ROWS])

    def set_rate(self, rows_per_second: float) -> None:
        """Admit `rows_per_second` from now on (0: no limit). Slots already handed out stand: forgiving them on
        every change (the pacer changes the rate every interval) would let a burst through each time."""
        self._shared[_RATE] = max(0.0, rows_per_second)

    def admit(self, rows: int) -> None:
        """Block until `rows` more rows may be written (at once when unlimited).

        Sleeps in short slices and re-reads the rate, so lifting the limit (or
        raising it) frees a waiting writer within a few milliseconds.
        """
        with self._lock:
            self._shared[_ROWS] += rows
            rate = self._shared[_RATE]
            if rate <= 0:
                return
            now = time.monotonic()
            slot = max(now, self._shared[_NEXT])
            self._shared[_NEXT] = slot + rows / rate
        while (wait := slot - time.monotonic()) > 0 and self._shared[_RATE] > 0:
            time.sleep(min(wait, 0.01))

    def paced(self, write: Callable[[int, int], int], rows: int) -> int:
        """Write `rows` rows with `write(start, stop)`: in one call when unlimited, else `CHUNK_ROWS` at a time
        with each chunk admitted first. Returns the rows written."""
        if self.rate <= 0:
            self.admit(rows)
            return write(0, rows)
        written = 0
        for start in range(0, rows, CHUNK_ROWS):
            stop = min(rows, start + CHUNK_ROWS)
            self.admit(stop - start)
            written += write(start, stop)
        return written


class ReadPacer:
    """AIMD on the write rate of `gate`, holding the p99 of the service's read latency under `budget` seconds.

    `observe(seconds)` is called for every read the service answers (any API);
    `start()` runs the controller in a daemon thread until `stop()`.
    """

    def __init__(self, gate: WriteGate, budget: float, min_rate: float, *, interval: float = INTERVAL,
                 idle_after: float = IDLE_AFTER) -> None:
        self.gate = gate
        self.budget = budget
        self.min_rate = min_rate
        self.interval = interval
        self.idle_after = idle_after
        self.measured = 0.0
        """The write rate admitted lately (rows/s, smoothed over about five intervals)."""
        self.peak = 0.0
        """The highest `measured` so far: what additive increase steps by."""
        self._window: list[float] = []
        self.last_read: dict[str, float] = {}
        """When each API last answered a read (monotonic seconds): its loop's lag probe runs only while it reads."""
        self._lag = 0.0
        self._last_read = -float("inf")
        self._rows = gate.admitted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def observe(self, seconds: float, api: str = "") -> None:
        """One read of `api` (`grpc`, `http`) took `seconds`."""
        self._window.append(seconds)  # list.append is atomic under the GIL: no lock on the read path
        self.last_read[api] = time.monotonic()

    def lagged(self, seconds: float) -> None:
        """How late the event loop serving the reads ran a timer: a read arriving then waited as long before
        its handler even started, which `observe` cannot see (`LAG_PROBE`)."""
        self._lag = max(self._lag, seconds)

    def start(self) -> ReadPacer:
        self._thread = threading.Thread(target=self._run, name="towpath-kv-pacer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.gate.set_rate(0)

    def step(self, now: float, late: float = 0.0) -> float:
        """One decision at `now` (monotonic seconds; `late`: how late this wake-up was); returns the new rate."""
        window, self._window = self._window, []
        late, self._lag = max(late, self._lag), 0.0
        admitted = self.gate.admitted
        latest = (admitted - self._rows) / self.interval
        self._rows = admitted
        self.measured += SMOOTHING * (latest - self.measured)
        self.peak = max(self.peak, self.measured)
        if window:
            self._last_read = now
        rate = self.gate.rate
        if now - self._last_read > self.idle_after:
            new = 0.0  # nobody reads: no limit
        else:
            window.sort()
            signal = max(late, window[min(len(window) - 1, int(len(window) * 0.99))] if window else 0.0)
            current = rate if rate > 0 else max(self.measured, self.min_rate)
            if signal > self.budget:
                new = max(self.min_rate, current / 2)
            else:
                new = current + STEP * max(self.peak, self.min_rate)
        if new != rate:
            self.gate.set_rate(new)
        return new

    def _run(self) -> None:
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            now = time.monotonic()
            self.step(now, late=now - due)
            due = now + self.interval


async def probe_lag(pacer: ReadPacer, api: str) -> None:
    """Tell `pacer` how late the running loop runs its timers, until cancelled (one probe on each loop that
    answers reads, `api`'s: a read queued behind a busy loop waits as long before its handler starts).

    Every `LAG_PROBE` while `api` is answering reads; every `IDLE_PROBE` otherwise (a wake-up costs ~0.1 ms of
    CPU on a small machine: 200 a second on each of two loops were a tenth of a core doing nothing).
    """
    loop = asyncio.get_running_loop()
    while True:
        if time.monotonic() - pacer.last_read.get(api, -float("inf")) > pacer.idle_after:
            await asyncio.sleep(IDLE_PROBE)
            continue
        start = loop.time()
        await asyncio.sleep(LAG_PROBE)
        pacer.lagged(loop.time() - start - LAG_PROBE)
