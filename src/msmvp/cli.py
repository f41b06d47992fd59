"""The command line: parse arguments, call the core, print the result. Nothing else lives here."""

from __future__ import annotations

import enum
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional, TypeVar

import typer

from msmvp import __version__
from msmvp._resources import component_values
from msmvp.options import AXES

app = typer.Typer(
    name="msmvp",
    help="Turn the Microservices MVP checklist into a working repository.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
checklist_app = typer.Typer(help="Show or validate a checklist.", no_args_is_help=True)
app.add_typer(checklist_app, name="checklist")

_state = {"debug": False}
T = TypeVar("T")


def _guard(fn: Callable[[], T]) -> T:
    """Run a core call; a user-facing error becomes one line + hint on stderr and exit 1."""
    from msmvp.errors import MsmvpError

    try:
        return fn()
    except MsmvpError as exc:
        if _state["debug"]:
            raise
        from msmvp import console

        console.error(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:
        if _state["debug"]:
            raise
        from msmvp import console

        where = f": {exc.filename}" if exc.filename else ""
        console.error(f"{exc.strerror or exc}{where}", "check free space and permissions; nothing was changed")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        from msmvp import console
        from msmvp._apply import interrupted_message

        console.error(interrupted_message())
        raise typer.Exit(130) from None


def _said_recovered(recovery: Any) -> None:
    if recovery is not None:
        from msmvp import console

        console.info(f"msmvp: {recovery.describe()}")
        for note in recovery.notes:
            console.info(f"  {note}")


def _recover(root: Path) -> None:
    """Undo (or finish) what an interrupted msmvp left in ``root``, and say what was done."""
    from msmvp._apply import TXN

    if not (root / TXN).is_dir():
        return
    from msmvp._apply import recover

    _said_recovered(_guard(lambda: recover(root)))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"msmvp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    _state["debug"] = debug


def _report_problems(fn: Callable[[], T]) -> T:
    """Run an option check; its problems are printed all at once, one line each, then exit 1."""
    from msmvp.errors import OptionProblemsError

    try:
        return fn()
    except OptionProblemsError as exc:
        if _state["debug"]:
            raise
        from msmvp import console

        for message, hint in exc.problems:
            console.error(message, hint)
        raise typer.Exit(exc.exit_code) from None


def _ask_options(chosen: dict[str, str]) -> dict[str, str]:
    """Ask each unanswered option in turn, offering only the values that can still be generated;
    an answer that cannot is refused at once, with why, and asked again."""
    from msmvp import choices, console

    for axis in choices.to_ask(chosen):
        values = choices.offered(axis, chosen)
        if len(values) <= 1:
            # Nothing to choose: say what is taken and why the rest is not offered.
            if not values:
                raise typer.Exit(1)  # the rules leave no value: unreachable with the option model's rules
            chosen[axis.name] = values[0]
            console.decided(axis, values[0], choices.excluded(axis, chosen))
            continue
        default = axis.default if axis.default in values else values[0]
        while True:
            try:
                value = console.ask_choice(axis, values, default)
            except EOFError:
                console.error("no answer (end of input)", "nothing was written; pass --defaults to ask nothing")
                raise typer.Exit(1) from None
            found = choices.answer_problems(axis, value, chosen)
            if not found:
                break
            for problem in found:
                console.error(problem.message, problem.hint)
        chosen[axis.name] = value
    return chosen


def _new(
    name: str,
    services: Optional[str],
    answers: Optional[Path],
    defaults: bool,
    output_dir: Path,
    dry_run: bool,
    no_git: bool,
    checklist: Optional[Path],
    **axes: Optional[enum.Enum],
) -> None:
    from msmvp import choices, console
    from msmvp.api import new_project
    from msmvp.options import defaults as option_defaults

    chosen: dict[str, str] = {k: v.value for k, v in axes.items() if v is not None}
    if not defaults and answers is None and console.stdin_is_interactive():
        # Flags first, all their problems at once, before a single question.
        _report_problems(lambda: choices.check(chosen))
        chosen = _ask_options(chosen)
    else:
        from msmvp.manifest import load_answers

        given = dict(chosen)
        if answers is not None:
            file = answers
            given = {**_guard(lambda: load_answers(file)).options, **chosen}
        _report_problems(lambda: choices.check({**option_defaults(), **given}))
    reporter = console.NewReporter()
    result = _guard(
        lambda: new_project(
            name,
            output_dir=output_dir,
            services=services,
            options=dict(chosen),
            answers=answers,
            checklist=checklist,
            git=not no_git,
            dry_run=dry_run,
            reporter=None if dry_run else reporter,
        )
    )
    _said_recovered(result.recovered)
    reporter.print_ticks()
    console.defaulted(result.defaulted, result.manifest.options)
    if dry_run:
        console.print_plan(result)
    else:
        console.new_summary(result, choices.not_generated(result.items, result.manifest.options))


def _build_new_command() -> Callable[..., None]:
    """``new`` with one flag per option axis, built from the option model."""
    params = [
        inspect.Parameter(
            "name",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[str, typer.Argument(help="Project name: a DNS label, e.g. shop.", show_default=False)],
        ),
    ]
    kw = inspect.Parameter.KEYWORD_ONLY
    for axis in AXES:
        choices = enum.Enum(axis.name.capitalize(), {v: v for v in axis.values})  # type: ignore[misc]
        built = component_values().get(axis.name, ())  # not axis.built: that imports the component models
        not_built = [v for v in axis.values if v not in built]
        extra = f" Not built yet: {', '.join(not_built)}." if not_built else ""
        params.append(
            inspect.Parameter(
                axis.name,
                kw,
                default=None,
                annotation=Annotated[
                    Optional[choices],
                    typer.Option(
                        f"--{axis.name}",
                        help=f"{axis.help[0].upper()}{axis.help[1:]}. Default: {axis.default}.{extra}",
                        show_default=False,
                        case_sensitive=False,
                        rich_help_panel="Options of the project",
                    ),
                ],
            )
        )
    params += [
        inspect.Parameter(
            "services",
            kw,
            default=None,
            annotation=Annotated[
                Optional[str],
                typer.Option(
                    help="Services, comma-separated; NAME:CALLEE+CALLEE sets who calls whom "
                    "(without any ':', each service calls the one before). Default: users,orders."
                ),
            ],
        ),
        inspect.Parameter(
            "answers",
            kw,
            default=None,
            annotation=Annotated[
                Optional[Path],
                typer.Option(
                    help="YAML answers file with the keys of msmvp.yaml (name, options, services).",
                    exists=True,
                    dir_okay=False,
                ),
            ],
        ),
        inspect.Parameter(
            "defaults",
            kw,
            default=False,
            annotation=Annotated[
                bool, typer.Option("--defaults", help="Ask nothing: every unanswered option takes its default.")
            ],
        ),
        inspect.Parameter(
            "output_dir",
            kw,
            default=Path("."),
            annotation=Annotated[Path, typer.Option(help="Directory to create the project in.", file_okay=False)],
        ),
        inspect.Parameter(
            "dry_run",
            kw,
            default=False,
            annotation=Annotated[bool, typer.Option("--dry-run", help="Print the file plan; write nothing.")],
        ),
        inspect.Parameter(
            "no_git",
            kw,
            default=False,
            annotation=Annotated[bool, typer.Option("--no-git", help="Do not initialise git or commit.")],
        ),
        inspect.Parameter(
            "checklist",
            kw,
            default=None,
            annotation=Annotated[
                Optional[Path],
                typer.Option(help="Use this checklist file instead of the built-in one.", exists=True, dir_okay=False),
            ],
        ),
    ]

    def new(**kwargs: Any) -> None:
        """Create a new project: render every file, initialise git and tick the checklist."""
        fixed = ("name", "services", "answers", "defaults", "output_dir", "dry_run", "no_git", "checklist")
        args = [kwargs.pop(k) for k in fixed]
        _new(*args, **kwargs)

    new.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return new


app.command("new")(_build_new_command())


@checklist_app.command("show")
def checklist_show(
    checklist: Annotated[
        Optional[Path], typer.Option(help="A checklist file; default: the built-in one.", exists=True, dir_okay=False)
    ] = None,
) -> None:
    """Show the checklist as a table by phase."""
    from msmvp import checklist as checklist_mod
    from msmvp import console

    console.checklist_table(_guard(lambda: checklist_mod.load(checklist)))


@checklist_app.command("validate")
def checklist_validate(
    file: Annotated[Optional[Path], typer.Argument(help="A checklist file; default: the built-in one.")] = None,
) -> None:
    """Validate a checklist file; report FILE:LINE: item ID: problem."""
    from msmvp import console
    from msmvp.checklist_check import validate_file

    console.validated(_guard(lambda: validate_file(file)))


CONFLICT_EXIT = 3

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the diff that would be applied; write nothing.")]
AllowDirty = Annotated[bool, typer.Option("--allow-dirty", help="Run even with uncommitted changes.")]
NoCommit = Annotated[bool, typer.Option("--no-commit", help="Leave the changes uncommitted.")]
ProjectDir = Annotated[Path, typer.Option("--project", help="The project directory.", file_okay=False)]


def _report_regen(outcome: Any) -> None:
    from msmvp import console

    console.regen_report(outcome)
    if outcome.dry_run:
        console.regen_diff(outcome)
    for note in outcome.notes:
        console.info(f"  {note}")
    if outcome.interrupted:
        console.info("Interrupted after every file was written: msmvp finished the run instead of stopping half way.")
    if outcome.plan.conflicts:
        console.conflicts_summary(outcome)
        raise typer.Exit(CONFLICT_EXIT)


@app.command("add-service")
def add_service(
    name: Annotated[str, typer.Argument(help="The new service: a DNS label.", show_default=False)],
    calls: Annotated[Optional[str], typer.Option(help="Services it calls, comma-separated.")] = None,
    dry_run: DryRun = False,
    allow_dirty: AllowDirty = False,
    no_commit: NoCommit = False,
    project: ProjectDir = Path("."),
) -> None:
    """Add a service and re-render every file that lists services. Exit 3 on conflicts."""
    from msmvp.grow import add_service as core

    _recover(project)
    callees = [c.strip() for c in calls.split(",")] if calls else []
    kw = {"dry_run": dry_run, "allow_dirty": allow_dirty, "commit": not no_commit}
    _report_regen(_guard(lambda: core(project, name, callees, **kw)))


@app.command("remove-service")
def remove_service(
    name: Annotated[str, typer.Argument(help="The service to remove.", show_default=False)],
    dry_run: DryRun = False,
    allow_dirty: AllowDirty = False,
    no_commit: NoCommit = False,
    project: ProjectDir = Path("."),
) -> None:
    """Remove a service; its files you edited are kept and listed. Exit 3 on conflicts."""
    from msmvp.grow import remove_service as core

    _recover(project)
    kw = {"dry_run": dry_run, "allow_dirty": allow_dirty, "commit": not no_commit}
    _report_regen(_guard(lambda: core(project, name, **kw)))


@app.command("upgrade")
def upgrade(
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Change an option: AXIS=VALUE (repeatable).")
    ] = None,
    dry_run: DryRun = False,
    allow_dirty: AllowDirty = False,
    no_commit: NoCommit = False,
    project: ProjectDir = Path("."),
) -> None:
    """Re-render with this msmvp's templates and the options in msmvp.yaml. Exit 3 on conflicts."""
    from msmvp.grow import parse_settings
    from msmvp.grow import upgrade as core

    _recover(project)
    kw = {"dry_run": dry_run, "allow_dirty": allow_dirty, "commit": not no_commit}
    _report_regen(_guard(lambda: core(project, parse_settings(set_ or []), **kw)))


@app.command("resolve")
def resolve(
    path: Annotated[str, typer.Argument(help="A file an earlier run listed as a conflict.", show_default=False)],
    keep_mine: Annotated[bool, typer.Option("--keep-mine", help="Keep your file; later runs leave it alone.")] = False,
    take_theirs: Annotated[bool, typer.Option("--take-theirs", help="Replace it by what msmvp generates.")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Settle a conflict and remember the decision, so the next run exits 0."""
    from msmvp import console
    from msmvp.grow import resolve as core

    if keep_mine == take_theirs:
        raise typer.BadParameter("give exactly one of --keep-mine and --take-theirs", param_hint="PATH")
    _recover(project)
    done = _guard(lambda: core(project, path, "mine" if keep_mine else "theirs"))
    console.resolved(done)


class StatusFormat(enum.StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    sarif = "sarif"
    html = "html"


class FailOn(enum.StrEnum):
    critical = "critical"
    high = "high"


@app.command("status")
def status(
    format_: Annotated[
        StatusFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = StatusFormat.table,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Write the report to FILE instead of stdout.", dir_okay=False),
    ] = None,
    explain: Annotated[
        Optional[str], typer.Option(help="Explain one item: its checks, files and what to do, e.g. 2.8.")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Run each item's commands (slow) to reach verified.")
    ] = False,
    checklist: Annotated[
        Optional[Path],
        typer.Option(help="Use this checklist file instead of the project's.", exists=True, dir_okay=False),
    ] = None,
    fail_under: Annotated[
        Optional[float], typer.Option(help="Gate: exit 3 when the score is below SCORE (0-100).", min=0, max=100)
    ] = None,
    fail_on: Annotated[
        Optional[FailOn],
        typer.Option(help="Gate: exit 4 when an applicable item of this priority or higher is not done."),
    ] = None,
    project: Annotated[
        Optional[Path],
        typer.Option(help="The project directory (default: the nearest one holding msmvp.yaml).", file_okay=False),
    ] = None,
) -> None:
    """Checklist coverage of the repo, from the evidence in it as it is now.

    Report-only by default: exit 0 whatever the score. Exit codes: 1 error, 2 bad usage,
    3 score below --fail-under, 4 an item at or above --fail-on not done, 5 both gates failed.
    """
    from msmvp import console_status
    from msmvp import status as status_mod

    root = project if project is not None else status_mod.find_root(Path.cwd())
    _recover(root)
    # With --explain, --verify runs only that item's commands.
    only = _guard(lambda: status_mod.resolve_item_id(root, checklist, explain)) if explain and verify else None
    report = _guard(lambda: status_mod.compute(root, checklist_path=checklist, verify=verify, verify_only=only))
    if explain is not None:
        console_status.explain(report, _guard(lambda: report.item(explain)))
    elif format_ is StatusFormat.table:
        if output is not None:
            _guard(lambda: console_status.write_table(report, output))
            console_status.report_written(output, format_.value)
        else:
            console_status.status_table(report)
    else:
        from msmvp import report as report_mod

        text = report_mod.render(report, format_.value)
        if output is not None:
            _guard(lambda: report_mod.write(output, text))
            console_status.report_written(output, format_.value)
        else:
            console_status.raw(text)
    result = status_mod.gate(report, fail_under=fail_under, fail_on=fail_on.value if fail_on else None)
    if result.exit_code:
        console_status.gate_failed(result)
        raise typer.Exit(result.exit_code)


@app.command("attest")
def attest(
    item: Annotated[str, typer.Argument(help="The checklist item, e.g. 5.9.", show_default=False)],
    by: Annotated[str, typer.Option("--by", help="Who vouches for it.", show_default=False)],
    note: Annotated[str, typer.Option("--note", help="What was done and where the proof is.", show_default=False)],
    expires: Annotated[
        Optional[str], typer.Option(help="Last day it counts, YYYY-MM-DD (default: never expires).")
    ] = None,
    checklist: Annotated[
        Optional[Path],
        typer.Option(help="Use this checklist file instead of the project's.", exists=True, dir_okay=False),
    ] = None,
    project: Annotated[
        Optional[Path],
        typer.Option(help="The project directory (default: the nearest one holding msmvp.yaml).", file_okay=False),
    ] = None,
) -> None:
    """Record that a person did a checklist item (for items only a human can finish).

    Writes .msmvp/attestations.yaml; commit it so it is reviewed like code.
    """
    from msmvp import console_status
    from msmvp import status as status_mod
    from msmvp.attest import record

    root = project if project is not None else status_mod.find_root(Path.cwd())
    _recover(root)
    result = _guard(lambda: record(root, item, by=by, note=note, expires=expires, checklist_path=checklist))
    console_status.attested(result)


def _exit_now(code: str | int | None) -> NoReturn:
    """Exit with ``code`` without tearing the interpreter down.

    By the time a command returns, every file it wrote is closed and its child processes have
    been waited for; freeing the loaded modules and objects (pydantic schemas, Jinja templates,
    GitPython) took 0.1-0.2 s of each run. Only the standard streams need flushing. Under coverage
    or a profiler (their data is saved at exit) the normal exit is kept.
    """
    if "coverage" in sys.modules or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # e.g. stdout piped into `head`, which has gone
        status = status or 1
    os._exit(status)


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        _exit_now(exc.code if isinstance(exc.code, str | int) or exc.code is None else 1)
