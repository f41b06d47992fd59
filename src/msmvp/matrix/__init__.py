"""The combination matrix: msmvp's own CI regenerates and checks every template combination.

Driven only by the option model, so it grows by itself as values are built:

- :mod:`~msmvp.matrix.combos` picks the combinations (full, asked, pairwise, all);
- :mod:`~msmvp.matrix.static` renders them in-process and checks each distinct artifact once;
- :mod:`~msmvp.matrix.checks` is the validator table (where a new kind of file adds its tool);
- :mod:`~msmvp.matrix.e2e` runs generated projects' own ``make install && make test``;
- :mod:`~msmvp.matrix.report` keeps the results and writes Markdown and JUnit XML.

``python -m msmvp.matrix --help`` (or ``make matrix``) runs it; docs/matrix.md explains it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from msmvp.matrix import combos
from msmvp.matrix.report import ComboResult, MatrixRun

__all__ = ["MatrixRun", "run"]


def _quiet(message: str) -> None:
    pass


def _ignore(result: ComboResult) -> None:
    pass


def run(
    static: str | None = "full",
    e2e: str | None = "pairwise",
    *,
    shard: str | None = None,
    check: bool = True,
    workdir: Path | None = None,
    jobs: int = 2,
    e2e_jobs: int = 1,
    timeout: float = 600.0,
    budget: float = 1500.0,
    require_tools: bool = False,
    progress: Callable[[str], None] = _quiet,
    on_tests: Callable[[ComboResult], None] = _ignore,
) -> MatrixRun:
    """Render + check the ``static`` selection and test the ``e2e`` one (``None`` skips a pass;
    ``check=False`` renders without writing or checking anything).

    ``shard`` ("k/N") narrows both selections to one round-robin shard. Work happens in
    ``workdir`` (kept) or a temporary directory (removed).
    """
    from msmvp.matrix import e2e as e2e_pass
    from msmvp.matrix import static as static_pass

    part = combos.parse_shard(shard) if shard else None
    result = MatrixRun(require_tools=require_tools)
    work = workdir or Path(tempfile.mkdtemp(prefix="msmvp-matrix-"))
    try:
        if static is not None:
            chosen = combos.select(static)
            if part is None:
                result.expected_renders = combos.expected_full_count() if static == "full" else len(chosen)
            else:
                chosen = combos.shard(chosen, *part)
                result.expected_renders = len(chosen)
            if check:
                static_pass.static(chosen, result, work / "static", jobs=jobs, progress=progress)
            else:
                static_pass.render_pass(chosen, result)
        if e2e is not None:
            chosen = combos.select(e2e)
            if part is not None:
                chosen = combos.shard(chosen, *part)
            progress(f"end to end: {len(chosen)} generated projects, make install && make test")
            e2e_pass.run_tests(
                chosen, result, work / "e2e", timeout=timeout, budget=budget, jobs=e2e_jobs, on_result=on_tests
            )
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return result
