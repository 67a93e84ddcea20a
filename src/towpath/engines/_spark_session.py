"""One SparkSession per process, started on first use.

A JVM takes seconds to start, and a process can hold only one SparkContext, so
every `SparkEngine` of a process (a backfill opens one engine per parallel run)
shares the session started here. `SparkEngine.close()` therefore never stops
it; it ends with the process, or with `stop_shared_session()`.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from typing import TYPE_CHECKING

from towpath.config.project import SparkConfig
from towpath.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["LOCAL_DEFAULTS", "shared_session", "stop_shared_session"]

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Local mode has a couple of cores: 200 shuffle partitions would be 200 tiny tasks per shuffle.
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
}
"""Settings for every session; `engine.spark.conf` in towpath.yaml overrides them."""

_QUIET_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
"""pyspark logs every analysis error as JSON before raising it; towpath re-raises it with file:line."""

_lock = threading.Lock()


def shared_session(config: SparkConfig) -> SparkSession:
    """The process's SparkSession, started with `config` if none is running yet.

    Raises:
        EngineError: pyspark is not installed, or Java is missing, or the JVM did not start.
    """
    try:
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            "the spark engine needs pyspark: pip install 'towpath[spark]' (and Java 17 or 21)"
        ) from None
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        _require_java()
        # Python workers (mapInArrow in `engine: spark` moves, UDFs) run this interpreter: it has pyarrow and towpath.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(config.master).appName("towpath")
        for key, value in {**LOCAL_DEFAULTS, **config.conf}.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except (PySparkException, OSError, RuntimeError) as err:
            first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
            raise EngineError(f"cannot start Spark (master {config.master!r}): {first}") from None
        session.sparkContext.setLogLevel("ERROR")
        _quiet_python_loggers()
        return session


def stop_shared_session() -> None:
    """Stop the process's SparkSession, if one runs (the next `shared_session` starts a new one)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


def _require_java() -> None:
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH and JAVA_HOME is not set"
        raise EngineError(
            f"the spark engine needs Java 17 or 21 ({where}); install a JDK "
            "(e.g. `apt-get install openjdk-17-jre-headless`) or use `engine: duckdb`"
        )


def _quiet_python_loggers() -> None:
    from pyspark.logger import PySparkLogger

    for name in _QUIET_LOGGERS:
        # Created through PySparkLogger: pyspark calls `.exception(..., errorClass=...)`, which a plain Logger rejects.
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
