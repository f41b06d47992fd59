"""Measure `msmvp new` (gateway + 3 services, defaults, git commit included): median wall time
and peak RSS over repeated runs, beside a plain-Jinja2 render of the same template files.

    python bench/bench_new.py [--runs 15] [--services 3]

Budget (PRODUCT.md): <= 0.6 s median and <= 80 MB peak on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import run_once

# Plain Jinja2: walk both templates, render every .jinja file with the same context, write it.
# No checklist, no provenance, no git: the floor any Jinja2-based generator pays.
PLAIN_JINJA = r"""
import os, sys, jinja2, yaml
from pathlib import Path
from msmvp import _resources
from msmvp.manifest import Manifest, parse_services
from msmvp.render import project_context, template_roots
dest = Path(sys.argv[1]); services = sys.argv[2]
manifest = Manifest(name="shop", services=parse_services(services))
ctx = project_context(manifest)
for name, contexts in (("project", [("", ctx)]),
                       ("service", [(f"services/{s['name']}/", {**ctx, "service": s}) for s in ctx["services"]])):
  for template in template_roots(manifest.options, name):
    root = template / "template"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    for prefix, c in contexts:
        for dirpath, _, files in os.walk(root):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                out_rel = env.from_string(rel.removesuffix(".jinja")).render(c)
                if any(not part for part in out_rel.split("/")):
                    continue
                out = dest / prefix / out_rel
                out.parent.mkdir(parents=True, exist_ok=True)
                if f.endswith(".jinja"):
                    out.write_text(env.get_template(rel).render(c))
                else:
                    out.write_bytes((root / rel).read_bytes())
"""


def measure(label: str, make_cmd, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    walls, rss = [], []
    for i in range(runs + 1):
        work = Path(tempfile.mkdtemp(prefix="msmvp-bench-"))
        try:
            wall, peak = run_once(make_cmd(work), work)
        finally:
            shutil.rmtree(work)
        if i:  # the first run warms the page cache and .pyc files
            walls.append(wall)
            rss.append(peak)
    result = {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls), "peak_mb": max(rss)}
    print(
        f"{label:<34} median {result['median_s']:.3f} s  (min {result['min_s']:.3f}, max {result['max_s']:.3f})"
        f"  peak RSS {result['peak_mb']:.0f} MB"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--services", type=int, default=3)
    args = parser.parse_args()
    names = ["users", "orders", "billing", "catalog", "payments", "shipping"]
    names += [f"svc{i}" for i in range(len(names) + 1, args.services + 1)]
    services = ",".join(names[: args.services])
    msmvp = [sys.executable, "-m", "msmvp"]
    print(
        f"msmvp new, {args.services} services, {args.runs} runs, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    measure(
        "msmvp new (with git commit)",
        lambda w: [*msmvp, "new", "shop", "--defaults", "--services", services],
        args.runs,
    )
    measure(
        "msmvp new --no-git",
        lambda w: [*msmvp, "new", "shop", "--defaults", "--no-git", "--services", services],
        args.runs,
    )
    measure(
        "plain Jinja2 render, same files",
        lambda w: [sys.executable, "-c", PLAIN_JINJA, str(w / "shop"), services],
        args.runs,
    )


if __name__ == "__main__":
    main()
