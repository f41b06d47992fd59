"""The checklist as data: the built-in 50 items, and clear errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from msmvp import checklist as checklist_mod
from msmvp.checklist_check import validate_file
from msmvp.cli import app
from msmvp.errors import ChecklistError
from msmvp.options import defaults

# Facts carried over from the source checklist: id, priority, effort in days (1 week = 5), title.
FACTS = """
1.1 critical 5 Define Core Microservices
1.2 critical 3 Choose Communication Protocol
1.3 high 5 Design API Contracts
1.4 high 4 Establish Data Management Strategy
1.5 medium 3 Implement Service Discovery
1.6 medium 2 Implement Basic Monitoring
1.7 medium 2 Set Up Logging
1.8 high 3 Implement Basic Security
1.9 critical 4 Choose Deployment Strategy
1.10 high 5 Establish CI/CD Pipeline
2.1 critical 5 Develop Integration Tests
2.2 high 4 Simulate Failure Scenarios
2.3 high 3 Test API Gateway
2.4 medium 2 Validate Data Consistency
2.5 medium 2 Test Communication Protocols
2.6 medium 2 Monitor Inter-Service Latency
2.7 high 3 Test Service Discovery
2.8 high 4 Implement Circuit Breakers
2.9 medium 2 Test Error Handling
2.10 high 5 Automate Integration Tests
3.1 high 5 Identify Performance Bottlenecks
3.2 medium 3 Optimize Database Queries
3.3 medium 4 Implement Caching
3.4 medium 3 Optimize Communication Protocol
3.5 high 4 Implement Load Balancing
3.6 high 5 Scale Microservices Horizontally
3.7 medium 3 Tune JVM/Runtime Settings
3.8 medium 2 Monitor Resource Utilization
3.9 medium 3 Implement Connection Pooling
3.10 medium 4 Profile Code Execution
4.1 critical 5 Implement Authentication and Authorization
4.2 high 4 Secure API Gateway
4.3 high 3 Encrypt Data in Transit
4.4 high 4 Encrypt Data at Rest
4.5 high 3 Implement Input Validation
4.6 medium 2 Implement Output Encoding
4.7 high 5 Regular Security Audits
4.8 medium 3 Implement Role-Based Access Control (RBAC)
4.9 medium 2 Monitor Security Logs
4.10 high 3 Keep Dependencies Up-to-Date
5.1 critical 5 Automate Deployment Process
5.2 high 5 Implement Blue/Green Deployments
5.3 critical 3 Monitor System Health
5.4 high 3 Set Up Alerting
5.5 high 4 Implement Auto-Scaling
5.6 medium 2 Monitor API Usage
5.7 medium 3 Implement Centralized Configuration Management
5.8 medium 2 Document Deployment Procedures
5.9 high 2 Establish On-Call Rotation
5.10 medium 4 Regular Performance Testing
"""


def test_builtin_checklist_carries_the_50_items_over_exactly() -> None:
    loaded = checklist_mod.load()
    facts = [line.split(" ", 3) for line in FACTS.strip().splitlines()]
    assert [(i.id, i.priority, i.effort_days, i.title) for i in loaded.items] == [
        (id_, prio, float(days), title) for id_, prio, days, title in facts
    ]
    assert sorted(loaded.phases) == [1, 2, 3, 4, 5]


def test_builtin_items_are_described_and_generated_for_the_defaults() -> None:
    loaded = checklist_mod.load()
    for item in loaded.items:
        assert len(item.description) >= 40, item.id
        assert item.generator(defaults()) or item.not_generated, item.id
        assert item.evidence.present or item.evidence.configured or item.human, item.id
    assert loaded.item("5.9").human


def test_builtin_evidence_points_at_generated_paths() -> None:
    assert len(validate_file().items) == 50


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "checklist.yaml"
    path.write_text("schema: msmvp-checklist/1\nname: Mine\nphases: {1: Core}\nitems:\n" + body)
    return path


ITEM = """  - id: "1.1"
    phase: 1
    title: Define Core Microservices
    priority: critical
    effort_days: 5
    description: One package per service.
    generated_by: [{what: services}]
    evidence:
      present:
        - path: services/{service}/Dockerfile
"""


def test_a_minimal_custom_checklist_loads(tmp_path: Path) -> None:
    assert checklist_mod.load(write(tmp_path, ITEM)).items[0].id == "1.1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            ITEM.replace("    phase: 1\n", "    phase: 1\n    colour: red\n"),
            ":7: item 1.1: colour: Extra inputs are not permitted",
        ),
        (ITEM + ITEM, ":15: item 1.1: duplicate id (first at line 5)"),
        (ITEM.replace("critical", "urgent"), ":8: item 1.1: priority: Input should be 'critical', 'high' or 'medium'"),
        (ITEM.replace('"1.1"', '"2.1"'), ":5: item 2.1: id does not start with its phase 1"),
        (
            ITEM.replace("    generated_by: [{what: services}]\n", ""),
            ":5: item 1.1: nothing generates it for the default options",
        ),
        (
            ITEM.replace("generated_by: [{what: services}]", "generated_by: [{what: s, when: {colour: [red]}}]"),
            "item 1.1: generated_by.0.when: unknown option 'colour'",
        ),
        (
            ITEM.replace("effort_days: 5", "effort_days: -1"),
            ":9: item 1.1: effort_days: Input should be greater than 0",
        ),
        (ITEM.replace("    title: Define Core Microservices\n", ""), "item 1.1: title: Field required"),
        ("  - [not, a, mapping]\n", "each item must be a mapping"),
        ("  - {id: '1.1', phase: [\n", ":6: not valid YAML"),
    ],
)
def test_malformed_checklists_name_file_line_and_item(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ChecklistError) as info:
        checklist_mod.load(path)
    assert str(info.value).startswith(str(path) + ":")
    assert message in str(info.value)


def test_evidence_no_template_can_produce_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, ITEM.replace("services/{service}/Dockerfile", "nowhere/at/all.txt"))
    with pytest.raises(
        ChecklistError, match=r":5: item 1.1: evidence path 'nowhere/at/all.txt' is not produced by any template"
    ):
        validate_file(path)


def test_cli_show_and_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["checklist", "show"])
    assert shown.exit_code == 0
    assert "Phase 1: Core Service Definition" in shown.stdout
    assert "50 items, 171 days of effort" in shown.stdout
    ok = runner.invoke(app, ["checklist", "validate"])
    assert ok.exit_code == 0 and "50 items in 5 phases" in ok.stdout
    bad = runner.invoke(app, ["checklist", "validate", str(write(tmp_path, ITEM.replace("critical", "urgent")))])
    assert bad.exit_code == 1
    assert "priority" in bad.stderr and "hint:" in bad.stderr


def test_new_with_a_custom_checklist_keeps_it_in_the_repo(tmp_path: Path) -> None:
    path = write(tmp_path, ITEM)
    runner = CliRunner()
    result = runner.invoke(
        app, ["new", "shop", "--defaults", "--no-git", "--checklist", str(path), "--output-dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.stderr
    project = tmp_path / "out" / "shop"
    assert (project / ".msmvp" / "checklist.yaml").read_text() == path.read_text()
    assert "checklist: .msmvp/checklist.yaml" in (project / "msmvp.yaml").read_text()
    assert "1 items scaffolded" in result.stderr


def test_the_validated_checklist_is_cached_and_follows_its_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msmvp import checklist as checklist_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "mine.yaml"
    source.write_text(checklist_mod.builtin_path().read_text())
    checklist_mod._load_cached.cache_clear()
    first = checklist_mod.load(source)
    entries = list((tmp_path / "cache" / "msmvp" / "checklists").glob("*.pickle"))
    assert len(entries) == 2  # this one and the built-in one (its titles say which items are shared)
    checklist_mod._load_cached.cache_clear()
    assert checklist_mod.load(source) == first  # from the cache
    source.write_text(source.read_text().replace("title: Define Core Microservices", "title: Define Services"))
    checklist_mod._load_cached.cache_clear()
    assert checklist_mod.load(source).item("1.1").title == "Define Services"
    for entry in entries:
        entry.write_bytes(b"not a pickle")
    source.write_text(checklist_mod.builtin_path().read_text())
    checklist_mod._load_cached.cache_clear()
    assert checklist_mod.load(source).item("1.1").title == "Define Core Microservices"
