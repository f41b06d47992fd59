"""Measure the generated project's `make test` per protocol x messaging x data combination.

    python bench/bench_make_test.py [--runs 3] [--only default,nats-eventual]

Renders each combination (users + orders, orders references users) into a temp dir and runs its
`make test` (two pytest-xdist workers, the stack tests on one of them, the real gateway and
broker started by the tests) with the current interpreter, which must have the generated
projects' requirements (the msmvp development environment has them). The combinations run one
after another in every round, after one warm-up round, so a change in machine load hits them all
alike; the default project is the peer each is compared with. Wall time is the budget; CPU
(user + system of make and everything it waited for) is printed beside it.

Budgets (issue 9, PRODUCT.md): <= 20 s for a project without a broker, <= 30 s with one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _timing import header

# label -> options (everything else is the default)
COMBINATIONS: dict[str, dict[str, str]] = {
    "default": {},
    "grpc": {"protocol": "grpc"},
    "shared-db": {"data": "shared-db"},
    "nats-eventual": {"messaging": "nats", "data": "eventual"},
    "rabbitmq-eventual": {"messaging": "rabbitmq", "data": "eventual"},
    "kafka-eventual": {"messaging": "kafka", "data": "eventual"},
    "grpc-kafka-eventual": {"protocol": "grpc", "messaging": "kafka", "data": "eventual"},
}
BUDGET_S = 20.0
BUDGET_BROKER_S = 30.0
# Settings a developer's shell may hold that would point the tests at other servers.
UNSET = ("DATABASE_URL", "JWT_SECRET", "REDIS_URL", "BROKER_URL", "CONSISTENCY_TESTS")


@dataclass
class Project:
    label: str
    options: dict[str, str]
    path: Path
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    failures: int = 0

    @property
    def budget(self) -> float:
        return BUDGET_S if self.options.get("messaging", "none") == "none" else BUDGET_BROKER_S


def render(work: Path, label: str, options: dict[str, str]) -> Project:
    from msmvp.testing import render_project

    path = render_project(work / label / "shop", **options)
    # `make codegen` (gRPC stubs) once, untimed: a developer's tree has them after `make install`.
    subprocess.run(["make", "codegen", f"PYTHON={sys.executable}"], cwd=path, check=True, capture_output=True)
    return Project(label, options, path)


def make_test(project: Project, env: dict[str, str]) -> tuple[float, float, str, bool]:
    """Wall and CPU seconds of one `make test`, its last output line, and whether it passed.

    A failed run's whole output goes to standard error, so a flaky test can be read, not guessed.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "test", f"PYTHON={sys.executable}", "PYTEST_ARGS=-q -p no:cacheprovider"],
        cwd=project.path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    lines = output.strip().splitlines()
    passed = os.waitstatus_to_exitcode(status) == 0
    if not passed:
        print(f"--- {project.label}: make test failed ---\n{output}--- end of {project.label} ---", file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime, lines[-1] if lines else "", passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds after the warm-up round")
    parser.add_argument("--only", default="", help="comma-separated labels (default: all): " + ", ".join(COMBINATIONS))
    args = parser.parse_args()
    labels = [label for label in args.only.split(",") if label] or list(COMBINATIONS)
    if "default" not in labels:
        labels.insert(0, "default")  # the peer
    header("generated make test", args.runs)
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    with tempfile.TemporaryDirectory(prefix="msmvp-bench-") as tmp:
        projects = [render(Path(tmp), label, COMBINATIONS[label]) for label in labels]
        for round_ in range(args.runs + 1):
            for project in projects:
                wall, cpu, summary, passed = make_test(project, env)
                print(f"  round {round_} {project.label:<20} {wall:6.1f} s  CPU {cpu:5.1f} s  {summary}", flush=True)
                if not passed:
                    project.failures += 1
                elif round_:
                    project.walls.append(wall)
                    project.cpus.append(cpu)
                    project.summaries.append(summary)
    med = statistics.median
    peer = projects[0]
    print(f"\nload at the end {os.getloadavg()[0]:.1f}")
    print(f"{'combination':<22}{'median wall':>12}{'min-max':>14}{'CPU':>8}{'/default':>10}  budget")
    for project in projects:
        if not project.walls:
            print(f"{project.label:<22} every run failed ({project.failures})")
            continue
        wall = med(project.walls)
        ratio = wall / med(peer.walls) if peer.walls else float("nan")
        verdict = "within" if wall <= project.budget else "OVER"
        spread = f"{min(project.walls):.1f}-{max(project.walls):.1f}"
        failed = f"  ({project.failures} failed runs)" if project.failures else ""
        print(
            f"{project.label:<22}{wall:>10.1f} s{spread:>14}{med(project.cpus):>7.1f}s{ratio:>9.2f}x"
            f"  {project.budget:g} s: {verdict}{failed}"
        )


if __name__ == "__main__":
    main()
