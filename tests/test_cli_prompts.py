"""Interactive `msmvp new`, driven through a pseudo-terminal as a user types: only buildable values
are offered, each answer is checked as it is given, and flag problems are all reported before a
single question."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from msmvp import choices, components
from msmvp.options import AXES, AXIS_BY_NAME

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """``python -m msmvp ARGS`` with stdin, stdout and stderr on a pseudo-terminal."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1", "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "msmvp", *args], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        self.fd = master
        self.seen = ""

    def expect(self, text: str, timeout: float = 20) -> str:
        """Read until ``text`` appears; return everything read up to and including it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {text!r}; got:\n{self.seen}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the program ended before {text!r}; got:\n{self.seen}"
                self.seen += ANSI.sub("", chunk.decode(errors="replace").replace("\r\n", "\n"))
        head, _, tail = self.seen.partition(text)
        self.seen = tail
        return head + text

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the exit; return the code and the rest of the output."""
        rest = self.seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                rest += ANSI.sub("", chunk.decode(errors="replace").replace("\r\n", "\n"))
            elif self.proc.poll() is not None:
                break
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.fd)
        return code, rest


def test_prompts_offer_only_buildable_values_and_refuse_an_unbuilt_answer_at_once(tmp_path: Path) -> None:
    term = Terminal(["new", "shop", "--no-git", "--output-dir", str(tmp_path)], tmp_path)
    try:
        # An option with one buildable value is not asked: it is stated, with why.
        assert "protocol — synchronous service-to-service calls: rest (grpc: not built yet)" in term.expect(
            "messaging — "
        )
        prompt = term.expect(":")
        assert "[none/rabbitmq/kafka/nats] (none)" in prompt
        term.send("")  # Enter takes the default
        term.expect("auth — ")
        prompt = term.expect(":")
        assert "[jwt/oidc] (jwt)" in prompt, prompt
        term.send("")
        term.expect("deploy — ")
        prompt = term.expect(":")
        assert "[both/compose/kubernetes] (both)" in prompt
        term.send("kubernetes")
        prompt = term.expect("gateway — ", timeout=20) + term.expect(":")
        assert "[envoy/nginx/traefik] (envoy)" in prompt, prompt
        term.send("")  # Enter takes the default
        term.expect("ci — ")
        term.expect(":")
        term.send("")
        prompt = term.expect("iac — ", timeout=20) + term.expect(":")
        assert "[terraform/ansible/none]" in prompt, prompt
        term.send("ansibel")  # a typo is refused at once, and the question asked again
        refused = term.expect("iac — ")
        assert "error: iac='ansibel' is not a value of iac" in refused, refused
        term.expect(":")
        term.send("none")
        prompt = term.expect("cache — ") + term.expect(":")
        assert "[redis/none] (redis)" in prompt
        term.send("")  # Enter takes the default
        code, rest = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 0, rest
    options = yaml.safe_load((tmp_path / "shop" / "msmvp.yaml").read_text())["options"]
    assert (options["deploy"], options["iac"]) == ("kubernetes", "none")
    ticked = re.findall(r"^\s+[✓◐] (\d+\.\d+)\s", rest, re.M)
    assert ticked, rest
    assert ticked == sorted(ticked, key=lambda i: tuple(map(int, i.split(".")))), "ticks not in checklist order"
    assert "(1 files)" not in rest
    # With iac none two items stay open, and the output says why.
    assert "2 not generated:" in rest
    assert "4.4   Encrypt Data at Rest" in rest
    assert "iac=terraform or ansible would generate it (here iac=none)" in rest
    assert "ci=" not in rest.split("5.1", 1)[1].split("note:", 1)[0]  # ci=github does its part


def test_every_flag_problem_is_reported_before_any_question(tmp_path: Path) -> None:
    flags = ["--messaging", "none", "--data", "eventual", "--discovery", "etcd"]
    term = Terminal(["new", "shop", *flags, "--output-dir", str(tmp_path)], tmp_path)
    code, out = term.finish()
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert code == 1, out
    assert len(errors) == 3, out
    assert "data=eventual is planned but not built yet" in errors[0]
    assert "discovery=etcd is planned but not built yet" in errors[1]
    assert "data=eventual, messaging=none: eventual consistency needs a message broker" in errors[2]
    assert " — " not in out  # no question was asked
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def everything_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The option model with every value built, so only the rules decide what is offered."""
    monkeypatch.setattr(components, "available", lambda: {a.name: a.values for a in AXES})


@pytest.mark.usefixtures("everything_built")
def test_a_rule_is_checked_as_soon_as_the_answers_it_involves_are_in() -> None:
    data = choices.AXIS_BY_NAME["data"]
    assert choices.problems({"data": "eventual"}) == []  # messaging not answered yet: no verdict
    assert "eventual" not in choices.offered(data, {"messaging": "none"})
    assert "eventual" in choices.offered(data, {"messaging": "kafka"})
    refused = choices.answer_problems(data, "eventual", {"messaging": "none"})
    assert [p.message for p in refused] == [
        "data=eventual, messaging=none: eventual consistency needs a message broker"
    ]
    assert choices.excluded(data, {"messaging": "none"}) == {"eventual": "eventual consistency needs a message broker"}


def test_unbuilt_values_are_never_offered() -> None:
    for axis in AXES:
        assert set(choices.offered(axis, {})) == set(axis.built), axis.name
    assert set(AXIS_BY_NAME) == {a.name for a in AXES}


def test_an_answers_file_gets_every_problem_at_once(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from msmvp.cli import app

    answers = tmp_path / "answers.yaml"
    answers.write_text("options: {discovery: etcd, data: eventual}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["new", "shop", "--answers", str(answers), "--output-dir", str(out)])
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3, result.stderr  # two unbuilt values and the rule (messaging takes its default)
    assert all(line.startswith("error: ") and "hint:" in line for line in errors)
    assert not out.exists()
