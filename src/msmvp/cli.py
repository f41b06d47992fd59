"""The command line as typer declares it: every command, option and help text. It parses what
:mod:`msmvp.argv` leaves to it (``--help``, usage errors, completion, anything unusual) and is
what the tests drive; either way the command itself is :mod:`msmvp.commands`."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from msmvp import __version__, commands
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
    commands.state["debug"] = debug


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
        for axis in AXES:  # typer gives enum members, commands.new takes their values
            chosen = kwargs[axis.name]
            kwargs[axis.name] = chosen.value if chosen is not None else None
        commands.new(**kwargs)

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
    commands.checklist_show(checklist)


@checklist_app.command("validate")
def checklist_validate(
    file: Annotated[Optional[Path], typer.Argument(help="A checklist file; default: the built-in one.")] = None,
) -> None:
    """Validate a checklist file; report FILE:LINE: item ID: problem."""
    commands.checklist_validate(file)


CONFLICT_EXIT = commands.CONFLICT_EXIT

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the diff that would be applied; write nothing.")]
AllowDirty = Annotated[bool, typer.Option("--allow-dirty", help="Run even with uncommitted changes.")]
NoCommit = Annotated[bool, typer.Option("--no-commit", help="Leave the changes uncommitted.")]
ProjectDir = Annotated[Path, typer.Option("--project", help="The project directory.", file_okay=False)]
# The options of every command that re-renders the project, after its own.
_REGEN_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("dry_run", DryRun, False),
        ("allow_dirty", AllowDirty, False),
        ("no_commit", NoCommit, False),
        ("project", ProjectDir, Path(".")),
    )
]


def _regen_command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a command that re-renders the project: typer sees the function's own parameters
    and then --dry-run, --allow-dirty, --no-commit and --project, which reach the function in
    ``**regen`` for it to pass on to :mod:`msmvp.commands`."""

    def register(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True).parameters.values()
        params = [p for p in own if p.kind != inspect.Parameter.VAR_KEYWORD]
        command.__signature__ = inspect.Signature([*params, *_REGEN_OPTIONS])  # type: ignore[attr-defined]
        return app.command(name)(command)

    return register


@_regen_command("add-service")
def add_service(
    name: Annotated[str, typer.Argument(help="The new service: a DNS label.", show_default=False)],
    calls: Annotated[Optional[str], typer.Option(help="Services it calls, comma-separated.")] = None,
    **regen: Any,
) -> None:
    """Add a service and re-render every file that lists services. Exit 3 on conflicts."""
    commands.add_service(name, calls, **regen)


@_regen_command("remove-service")
def remove_service(
    name: Annotated[str, typer.Argument(help="The service to remove.", show_default=False)],
    **regen: Any,
) -> None:
    """Remove a service; its files you edited are kept and listed. Exit 3 on conflicts."""
    commands.remove_service(name, **regen)


AllowDrop = Annotated[
    bool, typer.Option("--allow-drop", help="Allow dropping the table or column, and the data in it.")
]


@_regen_command("add-resource")
def add_resource(
    service: Annotated[str, typer.Argument(help="The service that owns it.", show_default=False)],
    resource: Annotated[str, typer.Argument(help="The resource: a snake_case name, e.g. order.", show_default=False)],
    field: Annotated[
        Optional[list[str]],
        typer.Option(
            "--field",
            help="A field NAME:TYPE[(ARGS)][:required][:unique][:indexed][:default=V], e.g. total:decimal(12,2) "
            "or status:enum(new,paid) (repeatable).",
        ),
    ] = None,
    ref: Annotated[
        Optional[list[str]],
        typer.Option(
            "--ref",
            help="A reference SERVICE.RESOURCE (or RESOURCE of the same service): a required <resource>_id; "
            "the service is added to the calls (repeatable).",
        ),
    ] = None,
    plural: Annotated[Optional[str], typer.Option(help="Its plural (table and URL), when not NAME+s.")] = None,
    **regen: Any,
) -> None:
    """Declare a resource of a service and re-render it (it replaces the default item). Exit 3 on conflicts."""
    commands.add_resource(service, resource, field, ref, plural, **regen)


@_regen_command("add-field")
def add_field(
    target: Annotated[str, typer.Argument(help="SERVICE.RESOURCE, e.g. orders.order.", show_default=False)],
    fields: Annotated[
        list[str], typer.Argument(help="Fields NAME:TYPE[(ARGS)][:required]..., e.g. note:text.", show_default=False)
    ],
    **regen: Any,
) -> None:
    """Add fields to a resource and re-render every layer of its service. Exit 3 on conflicts."""
    commands.add_field(target, fields, **regen)


@_regen_command("remove-field")
def remove_field(
    target: Annotated[str, typer.Argument(help="SERVICE.RESOURCE, e.g. orders.order.", show_default=False)],
    name: Annotated[str, typer.Argument(help="The field to remove.", show_default=False)],
    allow_drop: AllowDrop = False,
    **regen: Any,
) -> None:
    """Remove a field of a resource (needs --allow-drop: its column goes). Exit 3 on conflicts."""
    commands.remove_field(target, name, allow_drop, **regen)


@_regen_command("remove-resource")
def remove_resource(
    service: Annotated[str, typer.Argument(help="The service that owns it.", show_default=False)],
    resource: Annotated[str, typer.Argument(help="The resource to remove.", show_default=False)],
    allow_drop: AllowDrop = False,
    **regen: Any,
) -> None:
    """Remove a resource of a service (needs --allow-drop: its table goes). Exit 3 on conflicts."""
    commands.remove_resource(service, resource, allow_drop, **regen)


@_regen_command("upgrade")
def upgrade(
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Change an option: AXIS=VALUE (repeatable).")
    ] = None,
    **regen: Any,
) -> None:
    """Re-render with this msmvp's templates and the options in msmvp.yaml. Exit 3 on conflicts."""
    commands.upgrade(set_, **regen)


@app.command("resolve")
def resolve(
    path: Annotated[str, typer.Argument(help="A file an earlier run listed as a conflict.", show_default=False)],
    keep_mine: Annotated[bool, typer.Option("--keep-mine", help="Keep your file; later runs leave it alone.")] = False,
    take_theirs: Annotated[bool, typer.Option("--take-theirs", help="Replace it by what msmvp generates.")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Settle a conflict and remember the decision, so the next run exits 0."""
    try:
        commands.resolve(path, keep_mine, take_theirs, project)
    except commands.UsageProblem as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.param_hint) from None


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
    domain: Annotated[
        bool,
        typer.Option("--domain", help="Print the domain instead: its resources and Mermaid ER diagrams (Markdown)."),
    ] = False,
) -> None:
    """Checklist coverage of the repo, from the evidence in it as it is now.

    Report-only by default: exit 0 whatever the score. Exit codes: 1 error, 2 bad usage,
    3 score below --fail-under, 4 an item at or above --fail-on not done, 5 both gates failed.
    """
    fail = fail_on.value if fail_on else None
    commands.status(format_.value, output, explain, verify, checklist, fail_under, fail, project, domain)


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
    commands.attest(item, by, note, expires, checklist, project)


def main() -> None:
    """Parse the command line with typer (``--help``, usage errors, anything msmvp.argv leaves)."""
    from msmvp.entry import exit_now

    try:
        app()
    except SystemExit as exc:
        exit_now(exc.code if isinstance(exc.code, str | int) or exc.code is None else 1)
