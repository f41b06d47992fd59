"""The command line of every ordinary run, parsed without typer.

Importing typer (with the pydantic adapters it builds for each parameter) and parsing through it
cost more than the rest of ``msmvp status``. This parser understands the well-formed command
lines only: every command's options and arguments, ``--opt VALUE``, ``--opt=VALUE`` and the
short forms, checked as typer checks them (choices, existing files, score range). Anything else
— ``--help``, ``--version``, no arguments, an unknown or repeated option, a value that typer
would refuse or convert (a choice in capitals, a missing file), shell completion — returns None,
and :mod:`msmvp.cli` parses the same command line with typer, which answers it as it always has.
So help, usage errors and their wording come from one place, and a command does the same thing
whichever parser read it: both call :mod:`msmvp.commands`. ``tests/test_argv.py`` holds the
table below to typer's declarations in :mod:`msmvp.cli`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from msmvp.commands import FAIL_ON, STATUS_FORMATS
from msmvp.options import AXES

Kind = Literal["flag", "text", "path", "choice", "score", "many"]
_DECIMAL = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,6})?")


@dataclass(frozen=True)
class Param:
    """One option (``flags``) or argument (no flags) of a command, as typer declares it."""

    dest: str
    flags: tuple[str, ...] = ()
    kind: Kind = "text"
    choices: tuple[str, ...] = ()
    required: bool = False
    exists: bool = False  # a path: must exist (typer's exists=True)
    file_okay: bool = True
    dir_okay: bool = True


@dataclass(frozen=True)
class Command:
    run: str  # the function of msmvp.commands
    params: tuple[Param, ...]

    @property
    def arguments(self) -> list[Param]:
        return [p for p in self.params if not p.flags]


@dataclass(frozen=True)
class Call:
    """A parsed command line: the function of :mod:`msmvp.commands` and its keyword arguments."""

    run: str
    kwargs: dict[str, Any]
    debug: bool = False


def _flag(dest: str) -> Param:
    return Param(dest, (f"--{dest.replace('_', '-')}",), "flag")


_FILE = {"kind": "path", "exists": True, "dir_okay": False}
_CHECKLIST = Param("checklist", ("--checklist",), **_FILE)  # type: ignore[arg-type]
_PROJECT = Param("project", ("--project",), "path", file_okay=False)
_REGEN = (_flag("dry_run"), _flag("allow_dirty"), _flag("no_commit"), _PROJECT)

COMMANDS: dict[str, Command] = {
    "new": Command(
        "new",
        (
            Param("name", required=True),
            *(Param(a.name, (f"--{a.name}",), "choice", a.values) for a in AXES),
            Param("services", ("--services",)),
            Param("answers", ("--answers",), **_FILE),  # type: ignore[arg-type]
            _flag("defaults"),
            Param("output_dir", ("--output-dir",), "path", file_okay=False),
            _flag("dry_run"),
            _flag("no_git"),
            _CHECKLIST,
        ),
    ),
    "add-service": Command("add_service", (Param("name", required=True), Param("calls", ("--calls",)), *_REGEN)),
    "remove-service": Command("remove_service", (Param("name", required=True), *_REGEN)),
    "add-resource": Command(
        "add_resource",
        (
            Param("service", required=True),
            Param("resource", required=True),
            Param("field", ("--field",), "many"),
            Param("ref", ("--ref",), "many"),
            Param("plural", ("--plural",)),
            *_REGEN,
        ),
    ),
    "add-field": Command(
        "add_field", (Param("target", required=True), Param("fields", (), "many", required=True), *_REGEN)
    ),
    "remove-field": Command(
        "remove_field", (Param("target", required=True), Param("name", required=True), _flag("allow_drop"), *_REGEN)
    ),
    "remove-resource": Command(
        "remove_resource",
        (Param("service", required=True), Param("resource", required=True), _flag("allow_drop"), *_REGEN),
    ),
    "upgrade": Command("upgrade", (Param("set_", ("--set",), "many"), *_REGEN)),
    "resolve": Command("resolve", (Param("path", required=True), _flag("keep_mine"), _flag("take_theirs"), _PROJECT)),
    "status": Command(
        "status",
        (
            Param("format_", ("--format", "-f"), "choice", STATUS_FORMATS),
            Param("output", ("--output", "-o"), "path", dir_okay=False),
            Param("explain", ("--explain",)),
            _flag("verify"),
            _CHECKLIST,
            Param("fail_under", ("--fail-under",), "score"),
            Param("fail_on", ("--fail-on",), "choice", FAIL_ON),
            _PROJECT,
            _flag("domain"),
        ),
    ),
    "attest": Command(
        "attest",
        (
            Param("item", required=True),
            Param("by", ("--by",), required=True),
            Param("note", ("--note",), required=True),
            Param("expires", ("--expires",)),
            _CHECKLIST,
            Param("project", ("--project",), "path", file_okay=False),
        ),
    ),
    "checklist show": Command("checklist_show", (_CHECKLIST,)),
    "checklist validate": Command("checklist_validate", (Param("file", kind="path"),)),
}


def _path(param: Param, raw: str) -> Path | None:
    """``raw`` as a Path when typer would take it as it is, else None."""
    try:
        st = os.stat(raw)
    except OSError:
        return None if param.exists else Path(raw)
    if (not param.file_okay and stat.S_ISREG(st.st_mode)) or (not param.dir_okay and stat.S_ISDIR(st.st_mode)):
        return None
    return Path(raw) if os.access(raw, os.R_OK) else None


def _value(param: Param, raw: str) -> Any:
    """The value typer would pass for ``raw``, or None where typer would refuse or change it."""
    if not raw or raw.startswith("-"):
        return None  # typer's business: an empty value, or an option where a value should be
    if param.kind == "path":
        return _path(param, raw)
    if param.kind == "choice":
        return raw if raw in param.choices else None
    if param.kind == "score":  # plain decimals only: typer's float parsing decides the rest
        score = float(raw) if _DECIMAL.fullmatch(raw) else -1.0
        return score if 0 <= score <= 100 else None
    return raw


def _completion_requested() -> bool:
    return any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)


def parse(args: list[str]) -> Call | None:
    """The call ``args`` asks for, or None to let typer parse them (see the module's docstring)."""
    debug = False
    rest = list(args)
    while rest and rest[0] == "--debug":
        debug = True
        rest.pop(0)
    if not rest or _completion_requested():
        return None
    name = rest.pop(0)
    if name == "checklist" and rest:
        name += " " + rest.pop(0)
    command = COMMANDS.get(name)
    if command is None:
        return None
    by_flag = {flag: p for p in command.params for flag in p.flags}
    kwargs: dict[str, Any] = {}
    positional: list[str] = []
    while rest:
        word = rest.pop(0)
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        flag, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        param = by_flag.get(flag)
        if param is None:
            return None
        if param.kind == "flag":
            if eq:
                return None
            value: Any = True
        else:
            if not eq and not rest:
                return None
            value = _value(param, inline if eq else rest.pop(0))
            if value is None:
                return None
        if param.kind == "many":
            kwargs.setdefault(param.dest, []).append(value)
        elif param.dest in kwargs:
            return None
        else:
            kwargs[param.dest] = value
    arguments = command.arguments
    if arguments and arguments[-1].kind == "many":  # the last argument takes every word left (nargs=-1)
        many = arguments[-1]
        rest_words = positional[len(arguments) - 1 :]
        positional = positional[: len(arguments) - 1]
        arguments = arguments[:-1]
        values = [_value(many, raw) for raw in rest_words]
        if any(v is None for v in values):
            return None
        if values:
            kwargs[many.dest] = values
    if len(positional) > len(arguments):
        return None
    for param, raw in zip(arguments, positional, strict=False):
        value = _value(param, raw)
        if value is None:
            return None
        kwargs[param.dest] = value
    if any(p.required and p.dest not in kwargs for p in command.params):
        return None
    return Call(command.run, kwargs, debug)


def run(call: Call) -> int | str | None:
    """Run a parsed call as typer would: its exit code, or None when only typer can answer
    (a usage problem the command found before doing anything)."""
    import errno

    from msmvp import commands

    commands.state["debug"] = call.debug
    try:
        getattr(commands, call.run)(**call.kwargs)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int | str) or exc.code is None else 1
    except commands.UsageProblem:
        return None
    except KeyboardInterrupt:
        return 130
    except EOFError:
        from msmvp import console

        console.aborted()
        return 1
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        return 1
    return 0
