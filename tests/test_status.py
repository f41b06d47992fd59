"""`msmvp status`: levels from the evidence in the repo as it is now, explain, gates, --verify."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msmvp import options, status
from msmvp.checklist import CommandCheck, matches
from msmvp.checklist import load as load_checklist
from msmvp.cli import app

from .helpers import build_file_tree, msmvp

runner = CliRunner()

# A fresh default project (rest, jwt, envoy, github, terraform, both deploy targets): every item
# applies, msmvp generates evidence for all 50, and without --verify nothing is run, so every
# item reaches `configured`.
EXPECTED_FRESH = {
    "1.1": "configured", "1.2": "configured", "1.3": "configured", "1.4": "configured", "1.5": "configured",
    "1.6": "configured", "1.7": "configured", "1.8": "configured", "1.9": "configured", "1.10": "configured",
    "2.1": "configured", "2.2": "configured", "2.3": "configured", "2.4": "configured", "2.5": "configured",
    "2.6": "configured", "2.7": "configured", "2.8": "configured", "2.9": "configured", "2.10": "configured",
    "3.1": "configured", "3.2": "configured", "3.3": "configured", "3.4": "configured", "3.5": "configured",
    "3.6": "configured", "3.7": "configured", "3.8": "configured", "3.9": "configured", "3.10": "configured",
    "4.1": "configured", "4.2": "configured", "4.3": "configured", "4.4": "configured", "4.5": "configured",
    "4.6": "configured", "4.7": "configured", "4.8": "configured", "4.9": "configured", "4.10": "configured",
    "5.1": "configured", "5.2": "configured", "5.3": "configured", "5.4": "configured", "5.5": "configured",
    "5.6": "configured", "5.7": "configured", "5.8": "configured", "5.9": "configured", "5.10": "configured",
}  # fmt: skip
# Not done in a fresh project: the items whose evidence names commands (done only when verified)
# and the two items only a person can finish (done only when attested).
WITH_COMMANDS = {"1.3", "2.1", "2.2", "2.3", "2.7", "4.8", "5.4"}
HUMAN = {"4.7", "5.9"}


@pytest.fixture()
def project(default_project: Path, tmp_path: Path) -> Path:
    """A private copy of the default project, free to break."""
    return Path(shutil.copytree(default_project, tmp_path / "shop"))


def levels(report: status.StatusReport) -> dict[str, str]:
    return {s.id: s.level for s in report.items}


# ---------------------------------------------------------------------------- a fresh project


def test_fresh_default_project_reaches_the_expected_level_for_all_50_items(default_project: Path) -> None:
    report = status.compute(default_project)
    assert len(report.items) == 50
    assert levels(report) == EXPECTED_FRESH
    assert {s.id for s in report.items if not s.done} == WITH_COMMANDS | HUMAN
    assert {s.id for s in report.items if s.item.human} == HUMAN
    for s in report.items:
        assert all(c.ok for c in s.checks), (s.id, [c.detail for c in s.checks if not c.ok])
        assert {f.state for f in s.files} == {"generated-untouched"}, s.id


def test_fresh_project_checklist_matches_the_expectation_table() -> None:
    checklist = load_checklist()
    defaults = options.defaults()
    assert {
        i.id for i in checklist.items if any(matches(v.when, defaults) for v in i.evidence.verified)
    } == WITH_COMMANDS
    assert {i.id for i in checklist.items if i.human} == HUMAN


def test_score_effort_next_and_mvp_ready_follow_the_documented_rules(default_project: Path) -> None:
    report = status.compute(default_project)
    weights = {"critical": 3, "high": 2, "medium": 1}
    not_done = [s for s in report.items if not s.done]
    # Every applicable item is configured: done ones earn 1, the rest 2/3.
    lost = sum(weights[s.item.priority] / 3 for s in not_done)
    total = sum(weights[s.item.priority] for s in report.items)
    assert report.score == round(100 * (total - lost) / total, 1)
    assert report.remaining_days == round(sum(s.item.effort_days / 3 for s in not_done), 1)
    # 2.1 is the only critical item left (its tests were not run); then high items, least effort first.
    assert next(s.id for s in report.next_items) == "2.1"
    assert [s.item.priority for s in report.next_items[1:]] == ["high", "high"]
    efforts = [s.remaining_days for s in report.next_items[1:]]
    assert efforts == sorted(efforts)
    assert report.mvp_ready is False  # 2.1 is critical and not verified
    assert report.has_manifest and report.has_provenance and report.options_known


def test_status_cli_is_report_only_by_default(default_project: Path) -> None:
    code, out, _ = msmvp(default_project, "status")
    assert code == 0
    for phase in ("Core Service Definition", "Integration Testing", "Deployment and Monitoring"):
        assert phase in out
    assert "Score" in out and "Next:" in out and "not MVP-ready" in out


# ---------------------------------------------------------------------------- breaking things


def test_deleting_the_ci_workflow_drops_the_items_it_satisfied(project: Path) -> None:
    before = levels(status.compute(project))
    (project / ".github/workflows/ci.yml").unlink()
    report = status.compute(project)
    after = levels(report)
    dropped = {i for i in after if after[i] != before[i]}
    assert "1.10" in dropped and "2.10" in dropped
    assert all(after[i] in ("missing", "present") for i in dropped)
    ci_items = report.item("1.10")
    assert {"path": ".github/workflows/ci.yml", "state": "deleted"} in [
        {"path": f.path, "state": f.state} for f in ci_items.files
    ]
    assert report.score < status.compute(project).score + 0.001  # stable
    code, out, _ = msmvp(project, "status", "--explain", "1.10")
    assert code == 0
    flat = " ".join(out.split())
    assert ".github/workflows/ci.yml deleted" in flat
    assert "git checkout" in flat  # the remediation says how to get it back


def test_stripping_jwt_authn_from_the_gateway_drops_its_items_and_explain_says_why(project: Path) -> None:
    envoy = project / "gateway/envoy.yaml"
    text = envoy.read_text()
    assert "jwt_authn" in text
    envoy.write_text(text.replace("envoy.filters.http.jwt_authn", "envoy.filters.http.removed"))
    report = status.compute(project)
    touched = [s for s in report.items if any(f.path == "gateway/envoy.yaml" for f in s.files)]
    dropped = [s for s in touched if s.level != "configured"]
    assert dropped, "an item checking jwt_authn at the gateway should drop"
    for s in dropped:
        assert s.level == "present"
        assert any(f.path == "gateway/envoy.yaml" and f.state == "modified" for f in s.files)
    item = dropped[0]
    code, out, _ = msmvp(project, "status", "--explain", item.id)
    flat = " ".join(out.split())
    assert code == 0
    assert "✗" in out and "no match in: gateway/envoy.yaml" in flat
    assert "gateway/envoy.yaml modified" in flat
    assert "edited since: gateway/envoy.yaml" in flat


def test_explain_shows_item_checks_files_and_remediation(default_project: Path) -> None:
    code, out, _ = msmvp(default_project, "status", "--explain", "2.8")
    flat = " ".join(out.split())
    assert code == 0
    assert flat.startswith("2.8 Implement Circuit Breakers")
    assert "✓ present" in out and "✓ configured" in out
    assert "generated-untouched" in flat
    code, out, _ = msmvp(default_project, "status", "--explain", "2.1")
    flat = " ".join(out.split())
    assert "commands: not run (pass --verify)" in flat
    assert "run `msmvp status --verify` to run `python -m pytest -q tests/integration`" in flat


def test_explain_an_unknown_item_is_one_line_with_a_hint(default_project: Path) -> None:
    code, _, err = msmvp(default_project, "status", "--explain", "2.88")
    assert code == 1
    assert "no item '2.88'" in err and "did you mean" in err


def test_a_missing_file_never_generated_is_absent(project: Path) -> None:
    (project / ".msmvp/provenance.json").write_text('{"schema": "msmvp-provenance/1", "files": {}}')
    shutil.rmtree(project / "docs")
    s = status.compute(project).item("1.1")
    assert s.level == "missing"
    assert {"docs/architecture.md": "absent"}.items() <= {f.path: f.state for f in s.files}.items()


# ---------------------------------------------------------------------------- no msmvp.yaml


def test_a_repo_msmvp_did_not_generate_gets_evidence_only_with_notes(project: Path) -> None:
    (project / "msmvp.yaml").unlink()
    shutil.rmtree(project / ".msmvp")
    report = status.compute(project)
    assert not report.has_manifest and not report.has_provenance and not report.options_known
    assert report.services == ["orders", "users"]
    notes = " ".join(report.notes)
    assert "options are unknown" in notes and "defaults" in notes
    assert "services were discovered" in notes
    assert "no .msmvp/provenance.json" in notes
    # The evidence lives in the files themselves, so the levels are those of the generated project.
    assert levels(report) == EXPECTED_FRESH
    assert {f.state for s in report.items for f in s.files} <= {"unknown", "absent"}
    code, out, _ = msmvp(project, "status")
    assert code == 0 and "options are unknown" in " ".join(out.split())


def test_a_plain_repo_with_nothing_in_it(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"README.md": "# hello\n", "services/api/main.py": "print()\n"})
    report = status.compute(tmp_path)
    assert report.score < 10
    assert report.services == ["api"]
    code, out, _ = msmvp(tmp_path, "status", "--format", "json")
    assert code == 0 and '"manifest": false' in out


# ---------------------------------------------------------------------------- --checklist


SMALL = """\
schema: msmvp-checklist/1
name: Tiny
phases: {1: Basics}
items:
  - id: "1.1"
    phase: 1
    title: Has a readme
    priority: critical
    effort_days: 1
    description: A README exists and says how to run it.
    generated_by: [{what: README.md}]
    evidence:
      present: [{path: README.md}]
      configured: [{path: README.md, contains: 'make dev'}]
  - id: "1.2"
    phase: 1
    title: Only with kafka
    priority: high
    effort_days: 2
    description: Applies only to Kafka projects.
    applies_when: {messaging: [kafka]}
    generated_by: [{what: a broker, when: {messaging: [kafka]}}]
  - id: "1.3"
    phase: 1
    title: A passing command
    priority: medium
    effort_days: 1
    description: A command that must pass.
    not_generated: nothing to generate
    evidence:
      present: [{path: msmvp.yaml}]
      verified: [{run: "true", timeout: 5}, {run: no-such-tool-xyz --check, timeout: 5}]
"""


def test_custom_checklist_with_na_reason(default_project: Path, tmp_path: Path) -> None:
    path = build_file_tree(tmp_path, {"tiny.yaml": SMALL}) / "tiny.yaml"
    report = status.compute(default_project, checklist_path=path)
    assert levels(report) == {"1.1": "configured", "1.2": "n/a", "1.3": "present"}
    assert report.item("1.2").reason == "applies when messaging is kafka; here messaging=none"
    assert report.mvp_ready  # the only critical item has no command: configured is done
    code, out, _ = msmvp(default_project, "status", "--checklist", str(path), "--explain", "1.2")
    assert code == 0 and "not applicable: applies when messaging is kafka" in " ".join(out.split())


def test_verify_reports_a_tool_that_is_not_installed_as_such(default_project: Path, tmp_path: Path) -> None:
    path = build_file_tree(tmp_path, {"tiny.yaml": SMALL}) / "tiny.yaml"
    report = status.compute(default_project, checklist_path=path, verify=True)
    item = report.item("1.3")
    assert [(c.command, c.outcome) for c in item.commands] == [
        ("true", "passed"),
        ("no-such-tool-xyz --check", "not installed"),
    ]
    assert item.level == "present"  # not verified, and not a failure either
    assert any("not installed, so not verified: no-such-tool-xyz --check" in n for n in report.notes)
    assert "install the missing tool" in item.remediation


def test_verify_reports_failures_and_timeouts(default_project: Path, tmp_path: Path) -> None:
    text = SMALL.replace(
        '{run: "true", timeout: 5}, {run: no-such-tool-xyz --check, timeout: 5}', '{run: "sleep 5", timeout: 1}'
    )
    path = build_file_tree(tmp_path, {"tiny.yaml": text}) / "tiny.yaml"
    assert (
        status.compute(default_project, checklist_path=path, verify=True).item("1.3").commands[0].outcome == "timeout"
    )
    text = SMALL.replace(
        '{run: "true", timeout: 5}, {run: no-such-tool-xyz --check, timeout: 5}',
        '{run: "echo boom; exit 3", timeout: 5}',
    )
    path = build_file_tree(tmp_path, {"failing.yaml": text}) / "failing.yaml"
    cmd = status.compute(default_project, checklist_path=path, verify=True).item("1.3").commands[0]
    assert (cmd.outcome, cmd.returncode, cmd.output.strip()) == ("failed", 3, "boom")


# ---------------------------------------------------------------------------- gates


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 0),
        (["--fail-under", "50"], 0),
        (["--fail-under", "99.9"], status.EXIT_SCORE),
        (["--fail-on", "critical"], status.EXIT_PRIORITY),  # 2.1 not verified
        (["--fail-on", "high"], status.EXIT_PRIORITY),
        (["--fail-under", "99.9", "--fail-on", "critical"], status.EXIT_BOTH),
        (["--fail-under", "50", "--format", "json"], 0),
    ],
)
def test_gates_exit_with_their_documented_codes(default_project: Path, args: list[str], code: int) -> None:
    exit_code, _, err = msmvp(default_project, "status", *args)
    assert exit_code == code
    assert ("gate failed" in err) == (code != 0)


def test_gate_on_critical_passes_once_the_critical_item_is_attested(project: Path) -> None:
    assert msmvp(project, "attest", "2.1", "--by", "QA", "--note", "ran the suite in staging")[0] == 0
    assert msmvp(project, "status", "--fail-on", "critical")[0] == 0
    code, _, err = msmvp(project, "status", "--fail-on", "high")
    assert code == status.EXIT_PRIORITY and "2.2" in err and "2.1" not in err


def test_help_documents_the_exit_codes() -> None:
    result = runner.invoke(app, ["status", "--help"])
    flat = " ".join(result.stdout.split())
    assert "3 score below --fail-under" in flat and "4 an item at or above --fail-on" in flat and "5 both" in flat


# ---------------------------------------------------------------------------- --verify for real


@pytest.mark.slow
def test_verify_runs_the_generated_tests_and_reaches_verified(project: Path) -> None:
    report = status.compute(project, verify=True)
    outcomes = {s.id: [(c.command, c.outcome) for c in s.commands] for s in report.items if s.commands}
    assert set(outcomes) == WITH_COMMANDS
    for item_id in WITH_COMMANDS:
        s = report.item(item_id)
        if any(c.outcome == "not installed" for c in s.commands):
            continue  # e.g. promtool on a machine without it: reported, not failed
        assert s.level == "verified", (item_id, [(c.command, c.outcome, c.output[-800:]) for c in s.commands])
        assert s.done
    for c in (c for s in report.items for c in s.commands):
        assert c.seconds < c.timeout
    assert report.item("2.1").level == "verified"
    assert report.mvp_ready  # every critical item: verified (2.1) or configured with no command
    code, out, _ = msmvp(project, "status", "--explain", "2.1")
    assert code == 0 and "commands: not run" in " ".join(out.split())  # explain is static unless --verify


def test_find_root_walks_up_to_the_manifest(default_project: Path) -> None:
    assert status.find_root(default_project / "services" / "users") == default_project.resolve()


def test_output_table_to_a_file(default_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "status.txt"
    code, _, err = msmvp(default_project, "status", "--output", str(out))
    assert code == 0 and "wrote" in err
    text = out.read_text()
    assert "Phase 1: Core Service Definition" in text and "\x1b[" not in text


def test_output_to_a_missing_directory_is_one_line(default_project: Path, tmp_path: Path) -> None:
    code, _, err = msmvp(default_project, "status", "-f", "json", "-o", str(tmp_path / "nope" / "s.json"))
    assert code == 1 and "cannot write" in err and "hint" in err


def test_doc_is_written() -> None:
    doc = (Path(__file__).parent.parent / "docs/status.md").read_text()
    for needle in ("--fail-under", "--fail-on", "| 3 |", "| 4 |", "| 5 |", "attestations.yaml", "2/3"):
        assert needle in doc


def test_explain_with_verify_runs_only_that_items_commands(default_project: Path) -> None:
    ran: list[str] = []

    def fake(check: CommandCheck, root: Path) -> status.CommandResult:
        ran.append(check.run)
        return status.CommandResult(check.run, "passed", 0, 0.0, "", check.timeout)

    report = status.compute(default_project, verify=True, verify_only="2.1", runner=fake)
    assert ran == ["python -m pytest -q tests/integration"]
    assert report.item("2.1").level == "verified"
    assert report.item("2.2").level == "configured" and not report.item("2.2").commands


def test_explain_verify_from_the_cli(default_project: Path, tmp_path: Path) -> None:
    path = build_file_tree(tmp_path, {"tiny.yaml": SMALL}) / "tiny.yaml"
    code, out, _ = msmvp(default_project, "status", "--checklist", str(path), "--explain", "1.3", "--verify")
    flat = " ".join(out.split())
    assert code == 0
    assert "passed `true`" in flat and "not installed `no-such-tool-xyz --check`" in flat


def test_a_plain_word_pattern_finds_what_its_regex_finds(default_project: Path) -> None:
    """Patterns without regex syntax are searched as strings: over every generated file, each
    checklist pattern taken that way finds exactly what the compiled regex finds."""
    import re

    from msmvp.evidence import _content_regex, _Literal

    patterns = {
        check.contains
        for item in load_checklist().items
        for check in (*item.evidence.present, *item.evidence.configured)
        if getattr(check, "contains", None)
    }
    plain = {p for p in patterns if isinstance(_content_regex(p), _Literal)}
    assert len(plain) > 50
    texts = [p.read_text(errors="replace") for p in default_project.rglob("*") if p.is_file() and ".git" not in p.parts]
    for pattern in plain:
        rx = re.compile(pattern, re.MULTILINE)
        assert [bool(_content_regex(pattern).search(t)) for t in texts] == [bool(rx.search(t)) for t in texts], pattern


def test_an_evidence_glob_takes_alternatives() -> None:
    from msmvp.evidence import match

    paths = sorted(["s/tests/test_api.py", "s/tests/test_resources.py", "s/tests/test_apis.py", "s/{a}.py"])
    assert match("s/tests/test_{api,resources}.py", paths) == ["s/tests/test_api.py", "s/tests/test_resources.py"]
    assert match("s/tests/test_{api,*s}.py", paths) == [
        "s/tests/test_api.py",
        "s/tests/test_apis.py",
        "s/tests/test_resources.py",
    ]
    assert match("s/{a}.py", paths) == ["s/{a}.py"]  # a brace without a comma is itself
