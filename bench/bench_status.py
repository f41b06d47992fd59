"""Measure static `msmvp status` (no commands run) on a 10-service project: median wall time of the
CLI as a subprocess over repeated runs, beside `msmvp --help` (the floor: interpreter + CLI import).

    python bench/bench_status.py [--runs 15] [--services 10]

Budget (PRODUCT.md): <= 0.3 s median on a 10-service project.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import run_once

BUDGET_S = 0.3


def measure(label: str, cmd: list[str], cwd: Path, runs: int) -> float:
    run_once(cmd, cwd)  # warm the page cache and .pyc files
    samples = [run_once(cmd, cwd) for _ in range(runs)]
    walls = sorted(w for w, _ in samples)
    median = statistics.median(walls)
    print(
        f"{label:<34} median {median:.3f} s  min {walls[0]:.3f} s  max {walls[-1]:.3f} s"
        f"  peak {max(m for _, m in samples):.0f} MB  ({runs} runs)"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--services", type=int, default=10)
    args = parser.parse_args()
    services = ",".join(f"s{i}" for i in range(1, args.services + 1))
    msmvp = [sys.executable, "-m", "msmvp"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [*msmvp, "new", "big", "--defaults", "--no-git", "--services", services, "--output-dir", str(work)],
            check=True,
            capture_output=True,
        )
        project = work / "big"
        files = sum(len(f) for _, _, f in os.walk(project))
        print(
            f"project: {args.services} services, {files} files; python {sys.version.split()[0]}; {os.cpu_count()} CPUs"
        )
        floor = measure("msmvp --help", [*msmvp, "--help"], project, args.runs)
        table = measure("msmvp status (table)", [*msmvp, "status"], project, args.runs)
        js = measure("msmvp status --format json", [*msmvp, "status", "--format", "json"], project, args.runs)
        print(f"status above the CLI floor: table {table - floor:+.3f} s, json {js - floor:+.3f} s")
        verdict = "within" if table <= BUDGET_S else "OVER"
        print(f"budget {BUDGET_S} s: {verdict}")


if __name__ == "__main__":
    main()
