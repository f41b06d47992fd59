"""Measure `msmvp new` (gateway + 3 services, defaults, git commit included) against its floor: a
plain Jinja2 render of the same template files, with Jinja's bytecode cache, run alternately.

    python bench/bench_new.py [--runs 15] [--services 3]
    python bench/bench_new.py --answers bench/domain-example.yaml   # a declared domain

Budget (issue 13, PRODUCT.md): `msmvp new` <= 1.5x the cached plain-Jinja2 render, <= 80 MB.

Every run uses a cache folder of its own (XDG_CACHE_HOME), warmed by the first round as the
floor's bytecode cache is. "first time" runs with the cache of the declared resources' OpenAPI
fragments emptied: a domain msmvp has not built before. "nothing cached" empties all of msmvp's
cache (Jinja's bytecode, the checklist, components, locks, fragments) before each run, and is
compared with the floor run with an empty bytecode cache: a first run on a new machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import Case, alternate, header, ratio

BUDGET = 1.5
# The caches of what msmvp computes from a project's own content (not from its templates).
PER_PROJECT_CACHES = ("openapi",)

# What the floor renders: msmvp's own template folders and context, computed once, up front.
DUMP_INPUTS = r"""
import json, sys
from pathlib import Path
from msmvp.manifest import Manifest, load_answers, parse_services
from msmvp.render import project_context, template_roots
if sys.argv[1].endswith(".yaml"):
    manifest = load_answers(Path(sys.argv[1]))
else:
    manifest = Manifest(name="shop", services=parse_services(sys.argv[1]))
# default=dict: the lazy openapi fragments of declared resources, built here as plain dicts.
print(json.dumps({"context": project_context(manifest),
                  "roots": {kind: [str(r / "template") for r in template_roots(manifest.options, kind)]
                            for kind in ("project", "service")}}, default=dict))
"""

# Plain Jinja2 with a bytecode cache: walk each template folder, render every .jinja file (and its
# path) with the context, copy the rest. No validation, checklist, provenance or git: the floor
# any Jinja2-based generator pays. It imports nothing but Jinja2.
PLAIN_JINJA = r"""
import json, os, sys, jinja2
from pathlib import Path
inputs = json.loads(Path(sys.argv[1]).read_text()); dest = Path(sys.argv[2]); cache = sys.argv[3]
ctx = inputs["context"]
jobs = [(root, [("", ctx)]) for root in inputs["roots"]["project"]]
jobs += [(root, [(f"services/{s['name']}/", {**ctx, "service": s}) for s in ctx["services"]])
         for root in inputs["roots"]["service"]]
for root, contexts in jobs:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined,
                             bytecode_cache=jinja2.FileSystemBytecodeCache(cache))
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
                    out.write_bytes(Path(root, rel).read_bytes())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--answers", type=Path, help="an answers file (e.g. a declared domain) instead of --services")
    args = parser.parse_args()
    names = ["users", "orders", "billing", "catalog", "payments", "shipping"]
    names += [f"svc{i}" for i in range(len(names) + 1, args.services + 1)]
    services = ",".join(names[: args.services])
    msmvp = [sys.executable, "-m", "msmvp"]
    with tempfile.TemporaryDirectory(prefix="msmvp-bench-floor-") as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        inputs = Path(tmp) / "inputs.json"
        given = str(args.answers.resolve()) if args.answers else services
        what = ["--answers", given] if args.answers else ["--services", services]
        dumped = subprocess.run([sys.executable, "-c", DUMP_INPUTS, given], check=True, capture_output=True)
        inputs.write_bytes(dumped.stdout)
        assert json.loads(inputs.read_text())["context"]["services"]
        cache = Path(tmp) / "jinja-cache"
        cache.mkdir()
        new = Case("msmvp new (with git commit)", lambda w: [*msmvp, "new", "shop", "--defaults", *what])
        no_git = Case("msmvp new --no-git", lambda w: [*msmvp, "new", "shop", "--defaults", "--no-git", *what])
        floor = Case(
            "floor: plain Jinja2 render, bytecode cache",
            lambda w: [sys.executable, "-c", PLAIN_JINJA, str(inputs), str(w / "shop"), str(cache)],
        )

        def forget(work: Path) -> Path:
            for name in PER_PROJECT_CACHES:
                shutil.rmtree(Path(tmp) / "cache" / "msmvp" / name, ignore_errors=True)
            return work

        first = Case("msmvp new, first time (git commit)", new.command, prepare=forget)

        def forget_all(work: Path) -> Path:
            shutil.rmtree(Path(tmp) / "cache" / "msmvp", ignore_errors=True)
            return work

        def cold_floor_cache(work: Path) -> Path:
            shutil.rmtree(work / "jinja-cache", ignore_errors=True)
            (work / "jinja-cache").mkdir()
            return work

        cold = Case("msmvp new, nothing cached (git commit)", new.command, prepare=forget_all)
        cold_floor = Case(
            "floor, empty bytecode cache",
            lambda w: [sys.executable, "-c", PLAIN_JINJA, str(inputs), str(w / "shop"), str(w / "jinja-cache")],
            prepare=cold_floor_cache,
        )
        helps = Case("msmvp --help", lambda w: [*msmvp, "--help"])
        header(f"msmvp new, {args.answers or f'{args.services} services'}", args.runs)
        alternate([new, floor, no_git, first, helps], args.runs)
        # Apart: each cold run writes every cache afresh; the warm commands are compared among themselves.
        alternate([cold, cold_floor], args.runs)
    ratio("msmvp new / floor", new, floor, BUDGET)
    ratio("msmvp new --no-git / floor", no_git, floor, BUDGET)
    ratio("msmvp new, first time / floor", first, floor, BUDGET)
    ratio("msmvp new, nothing cached / floor, empty cache", cold, cold_floor, BUDGET)


if __name__ == "__main__":
    main()
