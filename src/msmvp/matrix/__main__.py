"""``python -m msmvp.matrix``: parse arguments, call the matrix, print what it found."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from msmvp.matrix import combos
from msmvp.matrix.report import ComboResult, MatrixRun

app = typer.Typer(
    name="python -m msmvp.matrix",
    help="msmvp's combination matrix: render, check and test the template combinations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

Select = Annotated[str, typer.Option("--select", help=f"which combinations: {', '.join(combos.SELECTIONS)}")]
Shard = Annotated[Optional[str], typer.Option(help="only shard k/N of the selection (round robin)")]
Out = Annotated[Path, typer.Option(help="where matrix.md and matrix.junit.xml go")]
Workdir = Annotated[Optional[Path], typer.Option(help="keep rendered projects here (default: a temp dir, removed)")]
Jobs = Annotated[int, typer.Option(help="checks run in parallel")]
RequireTools = Annotated[
    bool,
    typer.Option(help="a missing tool fails the matrix (default: when MSMVP_REQUIRE_TOOLS=1)"),
]
Timeout = Annotated[float, typer.Option(help="seconds for one project's make install + make test")]
Budget = Annotated[float, typer.Option(help="seconds for the whole end-to-end pass; the rest is not run (fails)")]
E2eJobs = Annotated[int, typer.Option("--e2e-jobs", help="generated projects tested in parallel")]


def _require_default() -> bool:
    return os.environ.get("MSMVP_REQUIRE_TOOLS") == "1"


def _guard_selection(name: str) -> list[combos.Combination]:
    from msmvp import console
    from msmvp.errors import MsmvpError

    try:
        return combos.select(name)
    except MsmvpError as exc:
        console.error(exc.message, exc.hint)
        raise typer.Exit(1) from None


@app.command("list")
def list_(
    select: Select = "asked",
    as_json: Annotated[bool, typer.Option("--json", help="JSON: [{id, options}] (with --shards: shard names)")] = False,
    shards: Annotated[int, typer.Option(help="print N shard names (k/N) for a CI matrix instead")] = 0,
) -> None:
    """The combinations of a selection, from the option model."""
    chosen = _guard_selection(select)
    if shards:
        names = combos.shard_names(min(shards, max(1, len(chosen))))
        typer.echo(json.dumps(names) if as_json else "\n".join(names))
    elif as_json:
        typer.echo(json.dumps([{"id": combos.label(c), "options": c} for c in chosen]))
    else:
        typer.echo("\n".join(combos.label(c) for c in chosen))


def _finish(result: MatrixRun, out: Path) -> None:
    from msmvp.matrix import report

    md, xml = report.write(result, out)
    failures = result.failures()
    if result.render_seconds:
        typer.echo(
            f"rendered {result.rendered} combinations (option model: {result.expected_renders}) "
            f"in {result.render_seconds:.2f} s: {result.render_rate:.1f} combinations/s"
        )
    if result.distinct_checks:
        typer.echo(f"static checks: {result.distinct_checks} distinct artifacts in {result.static_seconds:.1f} s")
    if result.e2e_seconds:
        tested = sum(1 for r in result.results.values() if r.tests)
        typer.echo(f"end to end: {tested} projects in {result.e2e_seconds:.1f} s")
    typer.echo(f"reports: {md} {xml}")
    if failures:
        typer.echo(f"\n{len(failures)} failure(s):", err=True)
        for line in failures:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1)
    typer.echo("matrix passed")


def _progress(message: str) -> None:
    typer.echo(f"matrix: {message}", err=True)


def _tested(result: ComboResult) -> None:
    tests = result.tests
    if tests is not None:
        typer.echo(f"matrix: {tests.status:7} {result.label} ({tests.seconds:.0f} s) {tests.summary}", err=True)


@app.command()
def render(select: Select = "full", shard: Shard = None) -> None:
    """Render a selection in-process and count it against the option model (no files, no tools)."""
    from msmvp.matrix import run

    _guard_selection(select)
    result = run(select, None, shard=shard, check=False)
    failures = result.failures()
    typer.echo(
        f"rendered {result.rendered} combinations (option model: {result.expected_renders}) "
        f"in {result.render_seconds:.2f} s: {result.render_rate:.1f} combinations/s"
    )
    for line in failures:
        typer.echo(f"  {line}", err=True)
    if failures:
        raise typer.Exit(1)


@app.command()
def check(
    select: Select = "full",
    shard: Shard = None,
    jobs: Jobs = 2,
    require_tools: RequireTools = False,
    out: Out = Path("matrix-results"),
    workdir: Workdir = None,
) -> None:
    """Render a selection and check every distinct artifact once with its real tool."""
    from msmvp.matrix import run

    _guard_selection(select)
    result = run(
        select,
        None,
        shard=shard,
        workdir=workdir,
        jobs=jobs,
        require_tools=require_tools or _require_default(),
        progress=_progress,
    )
    _finish(result, out)


@app.command()
def e2e(
    select: Select = "pairwise",
    shard: Shard = None,
    timeout: Timeout = 600.0,
    budget: Budget = 900.0,
    e2e_jobs: E2eJobs = 1,
    out: Out = Path("matrix-results"),
    workdir: Workdir = None,
) -> None:
    """Generate each combination and run its own make install && make test."""
    from msmvp.matrix import run

    _guard_selection(select)
    result = run(
        None,
        select,
        shard=shard,
        workdir=workdir,
        timeout=timeout,
        budget=budget,
        e2e_jobs=e2e_jobs,
        progress=_progress,
        on_tests=_tested,
    )
    _finish(result, out)


@app.command("all")
def all_(
    jobs: Jobs = 2,
    require_tools: RequireTools = False,
    timeout: Timeout = 600.0,
    budget: Budget = 900.0,
    e2e_jobs: E2eJobs = 1,
    out: Out = Path("matrix-results"),
    workdir: Workdir = None,
) -> None:
    """What .ci/run runs: render + check the full set, then test the pairwise set end to end."""
    from msmvp.matrix import run

    result = run(
        "full",
        "pairwise",
        workdir=workdir,
        jobs=jobs,
        e2e_jobs=e2e_jobs,
        timeout=timeout,
        budget=budget,
        require_tools=require_tools or _require_default(),
        progress=_progress,
        on_tests=_tested,
    )
    _finish(result, out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
