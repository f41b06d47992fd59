"""Measure `msmvp add-service` on a 50-service project against the same on a 5-service one, run
alternately; both projects carry hand edits, one of them where the new render also changes.

    python bench/bench_add_service.py [--runs 15] [--small 5] [--large 50]

Each run copies the committed project (the copy is not timed), then times one
`msmvp add-service shipping --calls s1` (commit included). Budget (issue 13, PRODUCT.md): on 50
services <= 1.5x on 5.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import Case, alternate, header, ratio

BUDGET = 1.5


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def prepare(root: Path, services: int) -> Path:
    names = ",".join(f"s{i}" for i in range(1, services + 1))
    subprocess.run(
        [sys.executable, "-m", "msmvp", "new", "shop", "--defaults", "--services", names],
        cwd=root,
        check=True,
        capture_output=True,
    )
    project = root / "shop"
    compose = project / "deploy/compose/compose.yaml"
    compose.write_text("# edited by ops\n" + compose.read_text())
    routes = project / "services/s1/s1_service/routes.py"
    routes.write_text(routes.read_text() + "\n# reviewed\n")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nTeam notes.\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "edits")
    return project


def copy_of(project: Path):  # type: ignore[no-untyped-def]
    def make(work: Path) -> Path:
        copy = work / "shop"
        shutil.copytree(project, copy, symlinks=True)
        # A copy has new inodes and change times, so git would read every file once to see it is
        # unchanged; a user's checkout has its index up to date, as this refresh (not timed) makes it.
        git(copy, "update-index", "-q", "--refresh")
        return copy

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--small", type=int, default=5)
    parser.add_argument("--large", type=int, default=50)
    args = parser.parse_args()
    os.environ.update(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@localhost",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@localhost",
    )
    command = [sys.executable, "-m", "msmvp", "add-service", "shipping", "--calls", "s1"]
    with tempfile.TemporaryDirectory(prefix="msmvp-bench-") as tmp:
        roots = {n: Path(tmp) / str(n) for n in (args.small, args.large)}
        for n, root in roots.items():
            root.mkdir()
            roots[n] = prepare(root, n)
        header(f"msmvp add-service on {args.small} and {args.large} services with edits", args.runs)
        small = Case(f"add-service on {args.small} services", lambda w: command, prepare=copy_of(roots[args.small]))
        large = Case(f"add-service on {args.large} services", lambda w: command, prepare=copy_of(roots[args.large]))
        alternate([small, large], args.runs)
    ratio(f"{args.large} / {args.small} services", large, small, BUDGET)


if __name__ == "__main__":
    main()
