"""`msmvp new` from the command line: bad input is refused in one line, nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from msmvp import __version__
from msmvp.cli import app

runner = CliRunner()


def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    assert invoke("--version")[:2] == (0, f"msmvp {__version__}\n")


def test_new_help_lists_every_option_with_values_and_default() -> None:
    code, out, _ = invoke("new", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for flag, values, default in [
        ("--protocol", "rest|grpc", "rest"),
        ("--messaging", "none|rabbitmq|kafka|nats", "none"),
        ("--gateway", "envoy|nginx|traefik", "envoy"),
        ("--iac", "terraform|ansible|none", "terraform"),
    ]:
        assert flag in flat
        assert values in flat.replace(" ", "").replace("│", "") or values in flat
        assert f"Default: {default}" in flat


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", ""], "the project name is empty"),
        (["new", "../x"], "is not a DNS label"),
        (["new", "My Service!"], "is not a DNS label"),
        (["new", "class"], "is a Python keyword"),
        (["new", "x" * 41], "at most 40"),
        (["new", "shop", "--services", "users,users"], "listed twice"),
        (["new", "shop", "--services", "users,../x"], "not a DNS label"),
        (["new", "shop", "--services", "users,orders:payments"], "not a service"),
        (["new", "shop", "--data", "eventual"], "eventual consistency needs a message broker"),
        (["new", "shop", "--data", "eventual", "--messaging", "kafka"], "not built yet"),
    ],
)
def test_bad_input_is_one_line_with_a_hint_and_writes_nothing(args: list[str], message: str, tmp_path: Path) -> None:
    code, out, err = invoke(*args, "--defaults", "--output-dir", str(tmp_path))
    assert code == 1
    assert message in err
    # One line per problem (all of them at once), each with its hint.
    assert all(line.startswith("error: ") and "hint:" in line for line in err.strip().splitlines()), err
    assert "Traceback" not in err + out
    assert list(tmp_path.iterdir()) == []


def test_unknown_value_is_rejected_by_the_parser(tmp_path: Path) -> None:
    code, _, err = invoke("new", "shop", "--gateway", "kong", "--output-dir", str(tmp_path))
    assert code == 2
    assert "kong" in err
    assert list(tmp_path.iterdir()) == []


def test_non_empty_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, _, err = invoke("new", "shop", "--defaults", "--output-dir", str(tmp_path))
    assert code == 1
    assert "exists and is not empty" in err
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    code, out, _ = invoke("new", "shop", "--defaults", "--dry-run", "--output-dir", str(tmp_path))
    assert code == 0
    assert "dry run" in out
    assert "gateway/envoy.yaml" in out
    assert list(tmp_path.iterdir()) == []


def test_without_a_tty_it_takes_defaults_and_says_so(tmp_path: Path) -> None:
    code, _, err = invoke("new", "shop", "--no-git", "--output-dir", str(tmp_path))
    assert code == 0, err
    assert "defaults used: protocol=rest" in err
    manifest = yaml.safe_load((tmp_path / "shop" / "msmvp.yaml").read_text())
    assert manifest["options"]["gateway"] == "envoy"
    assert [s["name"] for s in manifest["services"]] == ["users", "orders"]


def test_answers_file_and_flags(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "options": {"deploy": "compose", "iac": "none"},
                "services": [{"name": "a"}, {"name": "b", "calls": ["a"]}],
            }
        )
    )
    out_dir = tmp_path / "out"
    code, _, err = invoke(
        "new", "shop", "--answers", str(answers), "--iac", "terraform", "--no-git", "--output-dir", str(out_dir)
    )
    assert code == 0, err
    manifest = yaml.safe_load((out_dir / "shop" / "msmvp.yaml").read_text())
    assert manifest["options"]["deploy"] == "compose"
    assert manifest["options"]["iac"] == "terraform"  # the flag wins over the answers file
    assert manifest["services"] == [{"name": "a"}, {"name": "b", "calls": ["a"]}]
    assert not (out_dir / "shop" / "deploy" / "k8s").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("options: [1, 2]", "options: Input should be a valid dictionary"),
        ("colour: red", "colour: Extra inputs are not permitted"),
        ("options: {gateway: kong}", "gateway='kong' is not a value of gateway"),
        ("services: [{name: ../x}]", "not a DNS label"),
        ("options: {a: [", "not valid YAML"),
    ],
)
def test_bad_answers_file(content: str, message: str, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(content)
    out_dir = tmp_path / "out"
    code, _, err = invoke("new", "shop", "--answers", str(answers), "--output-dir", str(out_dir))
    assert code == 1
    assert message in err
    assert not out_dir.exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="not a DNS label"):
        runner.invoke(app, ["--debug", "new", "../x", "--output-dir", str(tmp_path)], catch_exceptions=False)


def test_prompts_on_a_tty_ask_each_axis_with_a_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msmvp import console

    monkeypatch.setattr(console, "stdin_is_interactive", lambda: True)
    # messaging and auth (Enter: the default), deploy, gateway, ci, iac, cache: more than one built value
    answers = "\n\ncompose\nnginx\ngitlab\nnone\nredis\n"
    result = runner.invoke(app, ["new", "shop", "--no-git", "--output-dir", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.stderr
    assert "protocol" in result.stderr and "rest (grpc: not built yet)" in result.stderr
    manifest = yaml.safe_load((tmp_path / "shop" / "msmvp.yaml").read_text())
    assert manifest["options"]["deploy"] == "compose"
    assert manifest["options"]["gateway"] == "nginx"
    assert manifest["options"]["ci"] == "gitlab"
    assert manifest["options"]["iac"] == "none"
    assert manifest["options"]["cache"] == "redis"
