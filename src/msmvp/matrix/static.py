"""The render + static pass: render each combination in-process through msmvp's own pipeline
(:func:`msmvp.api.plan`), then check every distinct artifact once with its real tool.

An artifact's identity is its check plus the content hash of the file and of every file the
check reads; the first combination that renders it writes its project to disk and the check runs
there. Every combination with the same bytes shares that verdict.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from msmvp import api, checklist
from msmvp._apply import Write, apply
from msmvp.matrix.checks import CHECKS, Check, CheckFailed, Target
from msmvp.matrix.combos import Combination, label
from msmvp.matrix.report import FAILED, MISSING, PASSED, CheckRun, MatrixRun

PROJECT = "shop"
Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def _key(check: Check, path: str, inputs: list[str], digests: dict[str, str]) -> str:
    h = hashlib.sha256(f"{check.name}\0{path}".encode())
    for path in inputs:
        h.update(b"\0" + path.encode() + b"\0" + digests[path].encode())
    return h.hexdigest()


def render_pass(
    combos: Sequence[Combination],
    run: MatrixRun,
    workdir: Path | None = None,
    checks: Sequence[Check] = CHECKS,
) -> list[tuple[CheckRun, Path]]:
    """Render every combination into ``run``; return the distinct check runs, each with the
    project directory it runs in (written under ``workdir``; nothing is written without one)."""
    loaded = checklist.load()
    runs: dict[str, CheckRun] = {}
    todo: list[tuple[CheckRun, Path]] = []
    for index, combo in enumerate(combos):
        result = run.result(combo)
        started = time.perf_counter()
        try:
            manifest, _ = api.build_manifest(PROJECT, options=combo)
            files, _ = api.plan(manifest, loaded)
        except Exception as exc:  # a broken template can raise anything; the report names it
            result.render_seconds = time.perf_counter() - started
            result.render_error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
            continue
        result.render_seconds = time.perf_counter() - started
        run.render_seconds += result.render_seconds
        result.rendered, result.files = True, len(files)
        run.rendered += 1
        if workdir is None:
            continue
        started = time.perf_counter()
        paths = [f.path for f in files]
        digests = {f.path: hashlib.sha256(f.content).hexdigest() for f in files}
        fresh: list[CheckRun] = []
        for path in paths:
            for check in checks:
                if not check.matches(path):
                    continue
                key = _key(check, path, check.inputs(path, paths), digests)
                if key not in runs:
                    runs[key] = CheckRun(check.name, path, key, ran_in=result.label)
                    fresh.append(runs[key])
                result.checks.append(runs[key])
        if fresh:
            project = workdir / "projects" / f"{index:04d}" / PROJECT
            if project.exists():
                shutil.rmtree(project)
            writes = [Write(f.path, f.content, f.executable) for f in files]
            apply(project, writes, operation="matrix", create_root=True)
            todo += [(check_run, project) for check_run in fresh]
        run.write_seconds += time.perf_counter() - started
    return todo


BATCH_SIZE = 64
Job = list[tuple[CheckRun, Path]]


def _jobs(todo: Sequence[tuple[CheckRun, Path]], by_name: dict[str, Check]) -> list[Job]:
    """Batched checks in chunks, the others one by one; the slowest kinds first, so one long
    tool run does not end up alone at the tail."""
    groups: dict[str, Job] = {}
    for item in todo:
        groups.setdefault(item[0].check, []).append(item)
    jobs: list[Job] = []
    for name, items in groups.items():
        size = BATCH_SIZE if by_name[name].batch else 1
        jobs += [items[i : i + size] for i in range(0, len(items), size)]
    return sorted(jobs, key=lambda job: -by_name[job[0][0].check].timeout * len(job))


def _verdict(check: Check, check_run: CheckRun, target: Target) -> None:
    started = time.perf_counter()
    try:
        check.run(target)
    except CheckFailed as exc:
        check_run.status, check_run.output = FAILED, str(exc)
    except Exception as exc:  # a check that crashes is a failing check, with its traceback
        check_run.status = FAILED
        check_run.output = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    else:
        check_run.status = PASSED
    check_run.seconds = time.perf_counter() - started


def check_pass(
    todo: Sequence[tuple[CheckRun, Path]],
    run: MatrixRun,
    scratch: Path,
    checks: Sequence[Check] = CHECKS,
    jobs: int = 2,
    progress: Progress = _quiet,
) -> None:
    """Run each distinct check once, ``jobs`` at a time; verdicts land in the shared CheckRuns."""
    by_name = {c.name: c for c in checks}
    started = time.perf_counter()

    def one(numbered: tuple[int, Job]) -> None:
        number, job = numbered
        check = by_name[job[0][0].check]
        found = {t: shutil.which(t) for t in check.tools}
        absent = sorted(t for t, p in found.items() if p is None)
        if absent:
            for check_run, _ in job:
                check_run.status = MISSING
                check_run.output = f"not installed: {', '.join(absent)} (.ci/install-tools.sh)"
            return
        tools = {t: p for t, p in found.items() if p}
        targets = []
        for i, (check_run, project) in enumerate(job):
            work = scratch / f"{number:05d}-{i:02d}"
            work.mkdir(parents=True, exist_ok=True)
            targets.append(Target(project, check_run.path, work, tools, check.timeout))
        if check.batch is not None and len(job) > 1:
            batch_dir = scratch / f"{number:05d}-batch"
            batch_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            try:
                check.batch(targets, batch_dir)
            except CheckFailed:
                pass  # some target fails: run each alone below, to name it
            else:
                for check_run, _ in job:
                    check_run.status, check_run.seconds = PASSED, (time.perf_counter() - t0) / len(job)
                return
        for (check_run, _), target in zip(job, targets, strict=True):
            _verdict(check, check_run, target)
            if check_run.status == FAILED:
                progress(f"FAILED {check_run.path} ({check_run.check}) in {check_run.ran_in}")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, enumerate(_jobs(todo, by_name))))
    run.distinct_checks += len(todo)
    run.static_seconds += time.perf_counter() - started


def static(
    combos: Sequence[Combination],
    run: MatrixRun,
    workdir: Path,
    checks: Sequence[Check] = CHECKS,
    jobs: int = 2,
    progress: Progress = _quiet,
) -> None:
    """Render ``combos`` and check their distinct artifacts; everything lands in ``run``."""
    todo = render_pass(combos, run, workdir, checks)
    progress(
        f"rendered {sum(1 for c in combos if run.result(c).rendered)} of {len(combos)} combinations "
        f"in {run.render_seconds:.1f} s; {len(todo)} distinct artifacts to check"
    )
    check_pass(todo, run, workdir / "scratch", checks, jobs, progress)
    failed = {label(c) for c in combos if run.result(c).failed_checks(run.require_tools)}
    progress(f"checked {len(todo)} artifacts in {run.static_seconds:.1f} s; {len(failed)} combinations fail")
