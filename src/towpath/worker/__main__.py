"""`python -m towpath.worker ROOT --entry MODULE:FUNCTION [--warm MODULE[:FUNCTION] ...] [--idle SECONDS]`.

What `towpath.worker.spawn` runs in the background.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from towpath.worker.client import DEFAULT_IDLE_SECONDS
from towpath.worker.server import WorkerRunningError, serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m towpath.worker", description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--entry", required=True, help="module:function each command calls with its argv")
    parser.add_argument("--warm", nargs="*", default=[], help="modules to import before the first command (module:function also calls it with the project root)")
    parser.add_argument("--idle", type=float, default=DEFAULT_IDLE_SECONDS, help="stop after this many idle seconds")
    args = parser.parse_args()
    try:
        serve(args.root, entry=args.entry, warm=args.warm, idle_seconds=args.idle)
    except WorkerRunningError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
