#!/usr/bin/env python3
"""Backfill a service's read models from the APIs of the services it references (docs/data.md).

    make backfill SERVICE=orders                 # or: python scripts/backfill.py orders
    python scripts/backfill.py orders --source users --base-port 18000 --workdir /tmp/stack

Against the stack `make dev` runs (its ports, its databases in .dev/, a reader's credential for
it from scripts/credentials.py), this runs the service's own `python -m <package>.backfill`
with the settings the runner gives that service. Elsewhere run that module where the service
runs, with its settings and BACKFILL_CREDENTIAL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and not __package__:
    sys.path[0] = str(ROOT)  # `scripts.*` from the repo root, as scripts/dev.py does

from scripts import credentials  # noqa: E402
from scripts.dev import SERVICES, ServiceSpec, Stack  # noqa: E402


def backfill_env(stack: Stack, svc: ServiceSpec) -> dict[str, str]:
    """The settings the runner gives `svc`, plus a reader's credential for the stack."""
    ((_header, value),) = credentials.header(credentials.token(stack, ["reader"], sub="backfill")).items()
    return {**stack.service_env(svc), "BACKFILL_CREDENTIAL": value}


def backfill(stack: Stack, name: str, sources: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `name`'s backfill against `stack` (running or not: it reads the sources' APIs); its output."""
    svc = next((s for s in SERVICES if s.name == name), None)
    if svc is None or not svc.calls:
        keeping = ", ".join(s.name for s in SERVICES if s.calls) or "none"
        raise SystemExit(f"{name}: not a service that keeps read models (those that do: {keeping})")
    argv = [sys.executable, "-m", f"{svc.package}.backfill"]
    for source in sources or ():
        argv += ["--source", source]
    return subprocess.run(
        argv, cwd=svc.directory, env=backfill_env(stack, svc), capture_output=True, text=True, check=False
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", help="the service whose read models to fill")
    parser.add_argument(
        "--source", action="append", help="only this source: a referenced service, or SERVICE.RESOURCE (repeatable)"
    )
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("DEV_BASE_PORT") or 8000))
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("DEV_WORKDIR", ROOT / ".dev")))
    args = parser.parse_args(argv)
    stack = Stack(workdir=args.workdir, base_port=args.base_port)
    stack.prepare()
    result = backfill(stack, args.service, args.source)
    for line in result.stdout.strip().splitlines():
        if not line.startswith("{"):  # the report lines, not the service's JSON log
            print(line)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        print(f"is the stack running? (make dev; its services on ports from {args.base_port + 1})", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
