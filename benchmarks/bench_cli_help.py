"""`towpath --help` startup time (target: under 100 ms), against a bare interpreter and bare Click.

Each figure is the median (and min) wall time of N fresh interpreters, so the
interpreter's own start is included, as a user sees it. Also reports the
slowest imports of one `--help` (`python -X importtime`). The command groups and
everything below them load lazily, on first use (tests/cli/test_help.py checks
that `--help` imports no heavy module).

Usage: python -m benchmarks.bench_cli_help [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (interpreter start)": ["-c", "pass"],
    "python -c 'import click'": ["-c", "import click"],
    "towpath --help": ["-m", "towpath.cli.main", "--help"],
    "towpath workflow --help": ["-m", "towpath.cli.main", "workflow", "--help"],
}


def wall(args: list[str], runs: int) -> list[float]:
    """Seconds of `runs` fresh interpreters running `args`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def slowest_imports(n: int = 5) -> list[tuple[int, str]]:
    """The `n` imports with the largest cumulative time (microseconds) in one `towpath --help`."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "towpath.cli.main", "--help"],
                         check=True, capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:n]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    print("| command | median ms | min ms |")
    print("| --- | ---: | ---: |")
    for label, case in CASES.items():
        times = wall(case, args.runs)
        print(f"| `{label}` | {statistics.median(times) * 1000:.0f} | {min(times) * 1000:.0f} |")
    print("\nslowest imports of `towpath --help` (cumulative µs): "
          + ", ".join(f"{name} {us}" for us, name in slowest_imports()))


if __name__ == "__main__":
    main(sys.argv[1:])
