"""Measure static `msmvp status` (no commands run) on a 10-service project against its floor,
`msmvp --help` (interpreter + CLI import + help), run alternately.

    python bench/bench_status.py [--runs 15] [--services 10]

Budget (issue 13, PRODUCT.md): `msmvp status` <= 1.5x `msmvp --help`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import Case, alternate, header, ratio

BUDGET = 1.5


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
            [*msmvp, "new", "big", "--defaults", "--services", services, "--output-dir", str(work)],
            check=True,
            capture_output=True,
        )
        project = work / "big"
        files = sum(len(f) for _, _, f in os.walk(project))
        header(f"msmvp status, {args.services} services ({files} files)", args.runs)
        floor = Case("floor: msmvp --help", lambda w: [*msmvp, "--help"], prepare=lambda w: project)
        table = Case("msmvp status (table)", lambda w: [*msmvp, "status"], prepare=lambda w: project)
        js = Case("msmvp status --format json", lambda w: [*msmvp, "status", "--format", "json"], lambda w: project)
        alternate([floor, table, js], args.runs)
    ratio("msmvp status / msmvp --help", table, floor, BUDGET)
    ratio("msmvp status --format json / msmvp --help", js, floor, BUDGET)


if __name__ == "__main__":
    main()
