"""Benchmark of the CLI's start-up (not a test): wall time of ``lsagent`` commands that need no
service, each run as a fresh process, against a 0.5 s bound.

    .venv/bin/python benchmarks/bench_cli.py [--runs 10]

Every client command pays this before its first request, so the CLI imports Flask, SQLAlchemy
and the engine only inside the commands that need them (``serve``, ``parse``, ``worker``, ``demo``);
tests/test_cli_startup.py checks which modules stay out. The figure is the median of the runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BOUND_S = 0.5
LSAGENT = Path(sys.executable).with_name("lsagent")
COMMANDS = [["--help"], ["jobs", "--help"], ["agents", "list", "--help"], ["--version"]]


def timed(arguments: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run: on a busy machine the CPU time is
    the steadier figure, the wall time what a person waits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([str(LSAGENT), *arguments], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    timed(["--help"])  # warm the file system cache and the bytecode
    print(f"lsagent start-up, median of {args.runs} runs, bound {BOUND_S} s")
    for arguments in COMMANDS:
        runs = [timed(arguments) for _ in range(args.runs)]
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        print(f"  lsagent {' '.join(arguments):<22} wall {wall:.3f} s = {wall / BOUND_S:.2f} x the bound"
              f"   (CPU {cpu:.3f} s = {cpu / BOUND_S:.2f} x)")


if __name__ == "__main__":
    main()
