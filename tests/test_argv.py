"""The command line without typer (msmvp.argv): it reads exactly what typer declares, leaves
everything else to typer, and a command prints the same whichever parser read it."""

from __future__ import annotations

import enum
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from msmvp import argv, commands
from msmvp.cli import app

from .conftest import REPO_ROOT
from .helpers import tree_digest


def _typer_commands() -> dict[str, Any]:
    group = typer.main.get_command(app)
    found = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            for sub, subcommand in command.commands.items():
                found[f"{name} {sub}"] = subcommand
        else:
            found[name] = command
    return found


def _kind(param: Any) -> str:
    annotation = param.type_descriptor.annotation
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice"
    if getattr(param, "multiple", False) or getattr(param, "nargs", 1) == -1:
        return "many"
    if getattr(param, "is_flag", False):
        return "flag"
    return {Path: "path", float: "score", str: "text"}[annotation]


def test_every_typer_command_and_parameter_is_in_the_table_as_declared() -> None:
    declared = _typer_commands()
    assert set(declared) == set(argv.COMMANDS)
    for name, command in declared.items():
        table = {p.dest: p for p in argv.COMMANDS[name].params}
        assert set(table) == {p.name for p in command.params}, name
        arguments = [p.name for p in command.params if p.param_type_name == "argument"]
        assert [p.dest for p in argv.COMMANDS[name].arguments] == arguments, name
        defaults = inspect.signature(getattr(commands, argv.COMMANDS[name].run)).parameters
        for param in command.params:
            mine = table[param.name]
            info = param.type_descriptor.parameter_info
            where = f"{name} {param.name}"
            assert list(mine.flags) == (param.opts if param.param_type_name == "option" else []), where
            assert not getattr(param, "secondary_opts", []), where
            assert mine.kind == _kind(param), where
            assert mine.required == param.required, where
            if mine.kind == "choice":
                assert mine.choices == tuple(c.value for c in param.type_descriptor.annotation), where
            if mine.kind == "path":
                assert (mine.exists, mine.file_okay, mine.dir_okay) == (info.exists, info.file_okay, info.dir_okay)
                assert info.readable and not info.writable and not info.resolve_path, where
            if mine.kind == "score":
                assert (param.min, param.max) == (0, 100), where
            if not param.required:  # the command's own default is the one typer passes
                default = param.default.value if isinstance(param.default, enum.Enum) else param.default
                function_param = defaults.get(mine.dest)  # new's option flags come as **axes
                expected = function_param.default if function_param is not None else None
                assert default == expected or (default is None and mine.kind == "many"), where


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (["status"], argv.Call("status", {})),
        (["--debug", "status", "-f", "json", "--fail-under=80"], argv.Call("status", {"format_": "json", "fail_under": 80.0}, True)),
        (["new", "shop", "--defaults", "--gateway", "nginx"], argv.Call("new", {"name": "shop", "defaults": True, "gateway": "nginx"})),
        (["add-service", "--calls", "a,b", "pay"], argv.Call("add_service", {"calls": "a,b", "name": "pay"})),
        (["upgrade", "--set", "cache=none", "--set=iac=none"], argv.Call("upgrade", {"set_": ["cache=none", "iac=none"]})),
        (["checklist", "show"], argv.Call("checklist_show", {})),
        (
            ["add-resource", "orders", "order", "--field", "total:decimal(12,2)", "--ref", "users.user", "--field=s:text"],
            argv.Call("add_resource", {"service": "orders", "resource": "order", "field": ["total:decimal(12,2)", "s:text"], "ref": ["users.user"]}),
        ),
        (["add-field", "orders.order", "a:text", "b:enum(x,y)"], argv.Call("add_field", {"target": "orders.order", "fields": ["a:text", "b:enum(x,y)"]})),
        (["remove-field", "orders.order", "a", "--allow-drop"], argv.Call("remove_field", {"target": "orders.order", "name": "a", "allow_drop": True})),
    ],
)  # fmt: skip
def test_an_ordinary_command_line_is_parsed_without_typer(line: list[str], expected: argv.Call) -> None:
    assert argv.parse(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        [],
        ["--help"],
        ["--version"],
        ["status", "--help"],
        ["checklist"],
        ["new"],  # the name is missing
        ["new", "shop", "extra"],
        ["new", "shop", "--gateway", "NGINX"],  # typer takes it, case-insensitively
        ["new", "shop", "--gateway", "kong"],
        ["new", "shop", "--answers", "no-such-file.yaml"],
        ["new", "shop", "--output-dir", "pyproject.toml"],  # a file
        ["new", "shop", "--no-git=yes"],
        ["status", "--fail-under", "101"],
        ["status", "--fail-under", "many"],
        ["status", "--fail-under", "1_0"],  # Python's float() takes it; typer decides
        ["status", "--fail-under", "nan"],
        ["status", "-fjson"],
        ["status", "--format", "json", "--format", "html"],
        ["status", "--explain"],
        ["status", "--explain", "--verify"],
        ["status", "--", "x"],
        ["status", "--debug"],
        ["attest", "5.9", "--by", "ann"],  # --note is required
        ["resolve", "--frobnicate"],
        ["add-field", "orders.order"],  # no field
        ["add-field", "orders.order", "n:integer:default=-1", "--allow-drop"],
        ["remove-resource", "orders"],
        ["nonsense"],
    ],
)
def test_anything_else_is_left_to_typer(line: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    assert argv.parse(line) is None


def test_shell_completion_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_MSMVP_COMPLETE", "bash_complete")
    assert argv.parse(["status"]) is None


def _run(args: list[str], cwd: Path, *, parser: str) -> tuple[int, str, str]:
    """The command as installed (``argv``: msmvp.argv first, typer when it declines), or typer
    alone (``typer``), as child processes named alike (typer's messages show the name)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "COLUMNS": "100", "NO_COLOR": "1"}
    env.pop("COVERAGE_PROCESS_START", None)
    if parser == "argv":
        cmd = [sys.executable, "-m", "msmvp", *args]
    else:
        typer_only = "import sys; sys.argv[0] = 'python -m msmvp'; from msmvp.cli import main; main()"
        cmd = [sys.executable, "-c", typer_only, *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--format", "json"],
        ["status", "-f", "markdown", "--fail-on", "critical"],
        ["status", "--explain", "2.8"],
        ["status", "--explain", "9.9"],
        ["status", "--fail-under=99.5"],
        ["resolve", "README.md"],  # a usage problem the command finds: typer reports it
        ["add-field", "users.item", "note:text"],
        ["remove-field", "users.item", "name"],
        ["checklist", "validate"],
    ],
)
def test_a_command_prints_the_same_through_either_parser(
    args: list[str], default_project: Path, tmp_path: Path
) -> None:
    project = Path(shutil.copytree(default_project, tmp_path / "shop"))
    assert _run(args, project, parser="argv") == _run(args, project, parser="typer")


def test_new_prints_and_writes_the_same_through_either_parser(tmp_path: Path) -> None:
    args = ["new", "shop", "--defaults", "--no-git", "--services", "users,orders", "--cache", "none"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fast = _run(args, tmp_path / "a", parser="argv")
    assert fast[0] == 0, fast[2]
    assert fast == _run(args, tmp_path / "b", parser="typer")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_an_ordinary_run_does_not_import_typer(default_project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop("COVERAGE_PROCESS_START", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "msmvp", "status", "--format", "json"],
        cwd=default_project,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "msmvp.commands" in imported
    assert not {"typer", "click", "msmvp.cli"} & imported
