"""What each command does once its arguments are parsed: call the core, print the result.

Shared by the two parsers of the command line: :mod:`msmvp.argv` (every ordinary invocation,
without importing typer) and :mod:`msmvp.cli` (typer: ``--help``, usage errors, anything
unusual). Nothing here imports typer; a command ends with ``SystemExit(code)`` where it does
not end normally, which both parsers pass on unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

CONFLICT_EXIT = 3
STATUS_FORMATS = ("table", "json", "markdown", "junit", "sarif", "html")
FAIL_ON = ("critical", "high")

state = {"debug": False}
T = TypeVar("T")


class UsageProblem(Exception):
    """Arguments the parser accepted but the command cannot: reported as a usage error (exit 2).
    Raised before the command changes anything, so the invocation can be handed to typer whole."""

    def __init__(self, message: str, param_hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


def guard(fn: Callable[[], T]) -> T:
    """Run a core call; a user-facing error becomes one line + hint on stderr (one per problem
    for option problems, all at once) and exit 1."""
    from msmvp.errors import MsmvpError, OptionProblemsError

    try:
        return fn()
    except MsmvpError as exc:
        if state["debug"]:
            raise
        from msmvp import console

        problems = exc.problems if isinstance(exc, OptionProblemsError) else [(exc.message, exc.hint)]
        for message, hint in problems:
            console.error(message, hint)
        raise SystemExit(exc.exit_code) from None
    except OSError as exc:
        if state["debug"]:
            raise
        from msmvp import console

        where = f": {exc.filename}" if exc.filename else ""
        console.error(f"{exc.strerror or exc}{where}", "check free space and permissions; nothing was changed")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        from msmvp import console
        from msmvp._apply import interrupted_message

        console.error(interrupted_message())
        raise SystemExit(130) from None


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

    _said_recovered(guard(lambda: recover(root)))


def _ask_options(chosen: dict[str, str]) -> dict[str, str]:
    """Ask each unanswered option in turn, offering only the values that can still be generated;
    an answer that cannot is refused at once, with why, and asked again."""
    from msmvp import choices, console

    for axis in choices.to_ask(chosen):
        values = choices.offered(axis, chosen)
        if len(values) <= 1:
            # Nothing to choose: say what is taken and why the rest is not offered.
            if not values:
                raise SystemExit(1)  # the rules leave no value: unreachable with the option model's rules
            chosen[axis.name] = values[0]
            console.decided(axis, values[0], choices.excluded(axis, chosen))
            continue
        default = axis.default if axis.default in values else values[0]
        while True:
            try:
                value = console.ask_choice(axis, values, default)
            except EOFError:
                console.error("no answer (end of input)", "nothing was written; pass --defaults to ask nothing")
                raise SystemExit(1) from None
            found = choices.answer_problems(axis, value, chosen)
            if not found:
                break
            for problem in found:
                console.error(problem.message, problem.hint)
        chosen[axis.name] = value
    return chosen


FINISHED_ANYWAY = "Interrupted after every file was written: msmvp finished the run instead of stopping half way."


def new(
    name: str,
    services: str | None = None,
    answers: Path | None = None,
    defaults: bool = False,
    output_dir: Path = Path("."),
    dry_run: bool = False,
    no_git: bool = False,
    checklist: Path | None = None,
    **axes: str | None,
) -> None:
    """``msmvp new``; ``axes`` holds the option flags given (axis name → value)."""
    from msmvp import choices, console
    from msmvp.api import new_project
    from msmvp.options import defaults as option_defaults

    chosen: dict[str, str] = {k: v for k, v in axes.items() if v is not None}
    if not defaults and answers is None and console.stdin_is_interactive():
        # Flags first, all their problems at once, before a single question.
        guard(lambda: choices.check(chosen))
        chosen = _ask_options(chosen)
    else:
        from msmvp.manifest import load_answers

        given = dict(chosen)
        if answers is not None:
            file = answers
            given = {**guard(lambda: load_answers(file)).options, **chosen}
        guard(lambda: choices.check({**option_defaults(), **given}))
    reporter = console.NewReporter()
    result = guard(
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
    if result.interrupted:
        console.info(FINISHED_ANYWAY)


def checklist_show(checklist: Path | None = None) -> None:
    from msmvp import checklist as checklist_mod
    from msmvp import console

    console.checklist_table(guard(lambda: checklist_mod.load(checklist)))


def checklist_validate(file: Path | None = None) -> None:
    from msmvp import console
    from msmvp.checklist_check import validate_file

    console.validated(guard(lambda: validate_file(file)))


def _report_regen(outcome: Any) -> None:
    from msmvp import console

    console.regen_report(outcome)
    if outcome.dry_run:
        console.regen_diff(outcome)
    for note in outcome.notes:
        console.info(f"  {note}")
    if outcome.interrupted:
        console.info(FINISHED_ANYWAY)
    if outcome.plan.conflicts:
        console.conflicts_summary(outcome)
        raise SystemExit(CONFLICT_EXIT)


# A regeneration still to run: the core function given the project and the run's switches
# (dry_run, allow_dirty, commit), as each re-rendering command below returns it.
Core = Callable[..., Any]


# The switches of every command that re-renders the project, after its own arguments.
_SWITCHES: dict[str, Any] = {"dry_run": False, "allow_dirty": False, "no_commit": False, "project": Path(".")}


def _regenerating(command: Callable[..., Core]) -> Callable[..., None]:
    """A command that re-renders the project: it takes ``command``'s arguments, then the
    :data:`_SWITCHES`; it finishes an interrupted run, then runs the regeneration ``command`` returns."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        switch = {name: kwargs.pop(name, default) for name, default in _SWITCHES.items()}
        core = command(*args, **kwargs)
        project, dry_run, allow_dirty = switch["project"], switch["dry_run"], switch["allow_dirty"]
        _recover(project)
        commit = not switch["no_commit"]
        _report_regen(guard(lambda: core(project, dry_run=dry_run, allow_dirty=allow_dirty, commit=commit)))

    keyword = inspect.Parameter.KEYWORD_ONLY
    switches = [inspect.Parameter(name, keyword, default=default) for name, default in _SWITCHES.items()]
    run.__signature__ = inspect.Signature([*inspect.signature(command).parameters.values(), *switches])  # type: ignore[attr-defined]
    return run


@_regenerating
def add_service(name: str, calls: str | None = None) -> Core:
    from msmvp.grow import add_service as core

    callees = [c.strip() for c in calls.split(",")] if calls else []
    return lambda project, **kw: core(project, name, callees, **kw)


@_regenerating
def remove_service(name: str) -> Core:
    from msmvp.grow import remove_service as core

    return lambda project, **kw: core(project, name, **kw)


@_regenerating
def add_resource(
    service: str, resource: str, field: list[str] | None = None, ref: list[str] | None = None, plural: str | None = None
) -> Core:
    from msmvp.grow_domain import add_resource as core

    fields, refs = field or [], ref or []
    return lambda project, **kw: core(project, service, resource, fields, refs, plural, **kw)


@_regenerating
def add_field(target: str, fields: list[str]) -> Core:
    from msmvp.grow_domain import add_field as core

    return lambda project, **kw: core(project, target, fields, **kw)


@_regenerating
def remove_field(target: str, name: str, allow_drop: bool = False) -> Core:
    from msmvp.grow_domain import remove_field as core

    return lambda project, **kw: core(project, target, name, allow_drop=allow_drop, **kw)


@_regenerating
def remove_resource(service: str, resource: str, allow_drop: bool = False) -> Core:
    from msmvp.grow_domain import remove_resource as core

    return lambda project, **kw: core(project, service, resource, allow_drop=allow_drop, **kw)


@_regenerating
def upgrade(set_: list[str] | None = None, allow_drop: bool = False) -> Core:
    from msmvp.grow import parse_settings
    from msmvp.grow import upgrade as core

    return lambda project, **kw: core(project, parse_settings(set_ or []), allow_drop=allow_drop, **kw)


def resolve(path: str, keep_mine: bool = False, take_theirs: bool = False, project: Path = Path(".")) -> None:
    from msmvp import console
    from msmvp.grow import resolve as core

    if keep_mine == take_theirs:
        raise UsageProblem("give exactly one of --keep-mine and --take-theirs", param_hint="PATH")
    _recover(project)
    done = guard(lambda: core(project, path, "mine" if keep_mine else "theirs"))
    console.resolved(done)


def status(
    format_: str = "table",
    output: Path | None = None,
    explain: str | None = None,
    verify: bool = False,
    checklist: Path | None = None,
    fail_under: float | None = None,
    fail_on: str | None = None,
    project: Path | None = None,
    domain: bool = False,
) -> None:
    from msmvp import console_status
    from msmvp import status as status_mod

    root = project if project is not None else status_mod.find_root(Path.cwd())
    _recover(root)
    if domain:
        _status_domain(root, output)
        return
    # With --explain, --verify runs only that item's commands.
    only = guard(lambda: status_mod.resolve_item_id(root, checklist, explain)) if explain and verify else None
    report = guard(lambda: status_mod.compute(root, checklist_path=checklist, verify=verify, verify_only=only))
    if explain is not None:
        console_status.explain(report, guard(lambda: report.item(explain)))
    elif format_ == "table":
        if output is not None:
            guard(lambda: console_status.write_table(report, output))
            console_status.report_written(output, format_)
        else:
            console_status.status_table(report)
    else:
        from msmvp import report as report_mod

        text = report_mod.render(report, format_)
        if output is not None:
            guard(lambda: report_mod.write(output, text))
            console_status.report_written(output, format_)
        else:
            console_status.raw(text)
    result = status_mod.gate(report, fail_under=fail_under, fail_on=fail_on)
    if result.exit_code:
        console_status.gate_failed(result)
        raise SystemExit(result.exit_code)


def _status_domain(root: Path, output: Path | None) -> None:
    """``status --domain``: the domain as Markdown, with its Mermaid diagrams."""
    from msmvp import console_status, domain_view
    from msmvp import report as report_mod
    from msmvp.domain import mermaid
    from msmvp.manifest import load

    manifest = guard(lambda: load(root))
    view = domain_view.from_contexts(manifest.service_contexts(), mermaid(manifest.domain_input()))
    text = "\n".join(domain_view.to_markdown(view, "#", f"{manifest.name}: domain"))
    if output is not None:
        guard(lambda: report_mod.write(output, text))
        console_status.report_written(output, "markdown")
    else:
        console_status.raw(text)


def attest(
    item: str,
    by: str,
    note: str,
    expires: str | None = None,
    checklist: Path | None = None,
    project: Path | None = None,
) -> None:
    from msmvp import console_status
    from msmvp import status as status_mod
    from msmvp.attest import record

    root = project if project is not None else status_mod.find_root(Path.cwd())
    _recover(root)
    result = guard(lambda: record(root, item, by=by, note=note, expires=expires, checklist_path=checklist))
    console_status.attested(result)
