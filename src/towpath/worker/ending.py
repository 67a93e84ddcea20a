"""End a `towpath` process as `sys.exit` would, without the interpreter's teardown.

After a run that imported pyiceberg, pyarrow, DuckDB and SQLAlchemy, the
interpreter spends about 0.3 s freeing modules and objects nobody will look at
again: a third of a warm command's time. Both process entries end here once the
command has returned (so every commit is done): the console script
(`towpath.cli.launch`) and each command the worker forks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_code(exc: SystemExit) -> int:
    """The status `sys.exit(value)` ends with; a message is printed to stderr as Python does."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1


def exit_without_teardown(code: int) -> NoReturn:
    """Finish threads and `atexit` handlers as an exit does, flush stdio, then `os._exit(code)`.

    `threading._shutdown` is the interpreter's own first exit step: it tells thread
    pools their work is over (their workers wait for that) and joins every
    non-daemon thread. Joining them by hand would wait forever on an idle pool.
    """
    threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
