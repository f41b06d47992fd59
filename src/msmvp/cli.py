"""The command line: parse arguments, call the core, print the result. Nothing else lives here."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from msmvp import __version__
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

        console.error("interrupted; nothing was changed")
        raise typer.Exit(130) from None


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
    from msmvp import console
    from msmvp.api import new_project

    chosen: dict[str, str | None] = {k: (v.value if v is not None else None) for k, v in axes.items()}
    if not defaults and answers is None and console.stdin_is_interactive():
        for axis in AXES:
            if chosen[axis.name] is None and axis.asked:
                chosen[axis.name] = console.ask_choice(axis)
    result = _guard(
        lambda: new_project(
            name,
            output_dir=output_dir,
            services=services,
            options=chosen,
            answers=answers,
            checklist=checklist,
            git=not no_git,
            dry_run=dry_run,
            reporter=None if dry_run else console.NewReporter(),
        )
    )
    console.defaulted(result.defaulted, result.manifest.options)
    if dry_run:
        console.print_plan(result)
    else:
        console.new_summary(result)


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
        not_built = [v for v in axis.values if v not in axis.built]
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

    kw = {"dry_run": dry_run, "allow_dirty": allow_dirty, "commit": not no_commit}
    _report_regen(_guard(lambda: core(project, parse_settings(set_ or []), **kw)))


def main() -> None:
    app()
