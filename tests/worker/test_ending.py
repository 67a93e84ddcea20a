"""A towpath process ends like `sys.exit` would, only without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

ENDS_WITH_WORK_IN_FLIGHT = textwrap.dedent(
    """
    import atexit, threading, time
    from concurrent.futures import ThreadPoolExecutor
    from towpath.worker.ending import exit_without_teardown

    printing = threading.Lock()  # the two threads wake together; print writes text and newline apart

    def say(line):
        with printing:
            print(line)

    pool = ThreadPoolExecutor(2)  # idle workers wait for the interpreter's "shutting down" signal
    pool.submit(time.sleep, 0.2).add_done_callback(lambda _: say("pool task finished"))
    writer = threading.Thread(target=lambda: (time.sleep(0.2), say("thread finished")))
    writer.start()
    atexit.register(lambda: say("atexit ran"))
    print("unflushed output", end="")
    exit_without_teardown(3)
    """
)


def test_it_finishes_threads_and_atexit_handlers_and_keeps_the_exit_code() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ENDS_WITH_WORK_IN_FLIGHT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3, done.stderr
    lines = done.stdout.replace("unflushed output", "unflushed output\n").splitlines()
    assert sorted(lines) == ["atexit ran", "pool task finished", "thread finished", "unflushed output"]
