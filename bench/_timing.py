"""Shared by the benchmark scripts: time CLI runs as child processes, alternating between the
commands compared so a change in machine load hits them all alike."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one child process; exits
    on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


@dataclass
class Case:
    """One command to time. ``command(work)`` gets a fresh empty directory per run when
    ``fresh`` (e.g. ``msmvp new``), else ``prepare(work)`` returns the directory to run in."""

    label: str
    command: Callable[[Path], list[str]]
    prepare: Callable[[Path], Path] | None = None
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peak_mb: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        """Median CPU seconds: what the run costs, less sensitive than wall time to a busy machine."""
        return statistics.median(self.cpus)


def alternate(cases: list[Case], runs: int) -> None:
    """Run every case once per round, ``runs`` rounds after one warm-up round (page cache,
    .pyc files, Jinja's bytecode cache), and print each case's median, min, max and peak RSS."""
    for round_ in range(runs + 1):
        for case in cases:
            work = Path(tempfile.mkdtemp(prefix="msmvp-bench-"))
            try:
                cwd = case.prepare(work) if case.prepare else work
                wall, peak, cpu = run_measured(case.command(work), cwd)
            finally:
                shutil.rmtree(work)
            if round_:
                case.walls.append(wall)
                case.cpus.append(cpu)
                case.peak_mb = max(case.peak_mb, peak)
    for case in cases:
        print(
            f"{case.label:<44} median {case.median:.3f} s  (min {min(case.walls):.3f}, max {max(case.walls):.3f})"
            f"  CPU {case.cpu:.3f} s  peak RSS {case.peak_mb:.0f} MB"
        )


def ratio(label: str, case: Case, floor: Case, budget: float) -> None:
    value = case.median / floor.median
    verdict = "within" if value <= budget else "OVER"
    print(f"{label}: {value:.2f}x wall, {case.cpu / floor.cpu:.2f}x CPU (budget {budget}x: {verdict})")


def compile_msmvp() -> None:
    """Write the .pyc files of msmvp's modules, as ``pip install`` does: with
    PYTHONDONTWRITEBYTECODE set (or a read-only checkout) every timed run would otherwise compile
    msmvp from source, which no installed msmvp does (the floors' libraries are compiled)."""
    import compileall

    import msmvp

    compileall.compile_dir(str(Path(msmvp.__file__).parent), quiet=1)


def header(what: str, runs: int) -> None:
    compile_msmvp()
    load = os.getloadavg()[0]
    print(
        f"{what}; {runs} alternating rounds; {os.cpu_count()} cores; Python {sys.version.split()[0]}; load {load:.1f}"
    )
