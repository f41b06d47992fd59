"""Measure `msmvp add-service` on a 5-service project that carries user edits.

    python bench/bench_add_service.py [--runs 15]

Each run starts from the same committed project (5 services; three generated files edited by
hand and committed, one of them in a place the new render also changes), then times one
`msmvp add-service` as a subprocess. Budget (PRODUCT.md): <= 0.5 s median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import run_once

SERVICES = "users,orders,billing,catalog,payments"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def prepare(root: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "msmvp", "new", "shop", "--defaults", "--services", SERVICES],
        cwd=root,
        check=True,
        capture_output=True,
    )
    project = root / "shop"
    compose = project / "deploy/compose/compose.yaml"
    compose.write_text("# edited by ops\n" + compose.read_text())
    routes = project / "services/users/users_service/routes.py"
    routes.write_text(routes.read_text() + "\n# reviewed\n")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nTeam notes.\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "edits")
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost",
    }
    os.environ.update(env)
    template = Path(tempfile.mkdtemp(prefix="msmvp-bench-"))
    try:
        project = prepare(template)
        walls, rss = [], []
        for i in range(args.runs + 1):
            work = Path(tempfile.mkdtemp(prefix="msmvp-bench-run-"))
            try:
                copy = work / "shop"
                shutil.copytree(project, copy, symlinks=True)
                wall, peak = run_once(
                    [sys.executable, "-m", "msmvp", "add-service", "shipping", "--calls", "orders"], copy
                )
                if i:
                    walls.append(wall)
                    rss.append(peak)
            finally:
                shutil.rmtree(work)
    finally:
        shutil.rmtree(template)
    print(f"msmvp add-service on 5 services with edits, {args.runs} runs, {os.cpu_count()} cores")
    print(
        f"median {statistics.median(walls):.3f} s  (min {min(walls):.3f}, max {max(walls):.3f})  peak RSS {max(rss):.0f} MB"
    )


if __name__ == "__main__":
    main()
