"""`msmvp attest`: attestations stored in the repo, counted by status until they expire."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from msmvp import attest, status
from msmvp.checklist import load as load_checklist
from msmvp.errors import AttestationInputError, AttestationsFileError, UnknownItemError

from .helpers import msmvp

runner = CliRunner()
TODAY = dt.date(2026, 3, 1)


@pytest.fixture()
def project(default_project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(default_project, tmp_path / "shop"))


def test_attest_a_human_item_makes_it_attested_and_done(project: Path) -> None:
    before = status.compute(project)
    assert before.item("5.9").level == "configured" and not before.item("5.9").done
    code, _, err = msmvp(project, "attest", "5.9", "--by", "Dana", "--note", "rotation staffed, see docs/oncall.md")
    assert code == 0
    assert "recorded attestation of 5.9" in " ".join(err.split())
    assert "not a human item" not in err
    data = yaml.safe_load((project / attest.ATTESTATIONS).read_text())
    assert data["schema"] == attest.SCHEMA
    assert data["attestations"] == [
        {"item": "5.9", "by": "Dana", "note": "rotation staffed, see docs/oncall.md", "date": dt.date.today()}
    ]
    after = status.compute(project)
    s = after.item("5.9")
    assert (s.level, s.evidence_level, s.done, s.credit) == ("attested", "configured", True, 1.0)
    assert after.score > before.score
    code, out, _ = msmvp(project, "status", "--explain", "5.9")
    assert "attested by Dana" in out


def test_attest_again_replaces_and_keeps_one_entry_per_item_sorted(project: Path) -> None:
    checklist = load_checklist()
    attest.attest(project, checklist, "5.9", by="A", note="first", today=TODAY)
    attest.attest(project, checklist, "4.7", by="B", note="pentest", today=TODAY)
    result = attest.attest(project, checklist, "5.9", by="C", note="second", today=TODAY)
    assert result.replaced is not None and result.replaced.by == "A"
    entries = attest.load(project)
    assert list(entries) == ["4.7", "5.9"]
    assert entries["5.9"].by == "C"
    text = (project / attest.ATTESTATIONS).read_text()
    assert text.index("item: '4.7'") < text.index("item: '5.9'")


def test_expired_attestation_no_longer_counts(project: Path) -> None:
    checklist = load_checklist()
    attest.attest(project, checklist, "4.7", by="Auditor", note="external audit", expires="2026-06-30", today=TODAY)
    assert status.compute(project, today=dt.date(2026, 6, 30)).item("4.7").level == "attested"  # last valid day
    report = status.compute(project, today=dt.date(2026, 7, 1))
    s = report.item("4.7")
    assert (s.level, s.done, s.attestation) == ("configured", False, None)
    assert s.expired is not None and s.expired.by == "Auditor"
    assert any("expired attestations no longer count: 4.7" in n for n in report.notes)


def test_any_item_may_be_attested_but_the_command_says_when_it_is_not_human(project: Path) -> None:
    code, _, err = msmvp(project, "attest", "2.1", "--by", "QA", "--note", "ran in staging")
    assert code == 0
    assert "2.1 is not a human item" in " ".join(err.split())
    assert status.compute(project).item("2.1").level == "attested"


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["9.9", "--by", "x", "--note", "y"], "no item '9.9'", "ids run from 1.1 to 5.10"),
        (["5.90", "--by", "x", "--note", "y"], "no item '5.90'", "did you mean"),
        (["5.9", "--by", " ", "--note", "y"], "--by is empty", "name the person"),
        (["5.9", "--by", "x", "--note", ""], "--note is empty", "say what was done"),
        (["5.9", "--by", "x", "--note", "y", "--expires", "31/12/2026"], "is not a date", "YYYY-MM-DD"),
        (["5.9", "--by", "x", "--note", "y", "--expires", "2000-01-01"], "is in the past", "give a date from"),
    ],
)
def test_bad_input_is_one_line_with_a_hint_and_writes_nothing(
    project: Path, args: list[str], message: str, hint: str
) -> None:
    code, _, err = msmvp(project, "attest", *args)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err and hint in err
    assert not (project / attest.ATTESTATIONS).exists()


def test_errors_are_typed(project: Path) -> None:
    checklist = load_checklist()
    with pytest.raises(UnknownItemError):
        attest.attest(project, checklist, "0.1", by="a", note="b")
    with pytest.raises(AttestationInputError):
        attest.attest(project, checklist, "5.9", by="a", note="b", expires="soon")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: other/1\nattestations: []\n", "expected keys schema"),
        ("schema: msmvp-attestations/1\nattestations:\n  - item: '5.9'\n    by: a\n", "must all be non-empty"),
        (
            "schema: msmvp-attestations/1\nattestations:\n  - {item: '5.9', by: a, note: b, date: yesterday}\n",
            ":3: item 5.9: date must be YYYY-MM-DD",
        ),
        (
            "schema: msmvp-attestations/1\nattestations:\n"
            "  - {item: '5.9', by: a, note: b, date: 2026-01-01}\n"
            "  - {item: '5.9', by: c, note: d, date: 2026-01-02}\n",
            ":4: item 5.9 is attested twice",
        ),
        ("schema: [", "not valid YAML"),
    ],
)
def test_a_malformed_attestations_file_names_file_and_line(project: Path, text: str, message: str) -> None:
    path = project / attest.ATTESTATIONS
    path.write_text(text)
    with pytest.raises(AttestationsFileError, match=r"attestations\.yaml"):
        attest.load(project)
    code, _, err = msmvp(project, "status")
    assert code == 1 and message in err and ".msmvp/attestations.yaml" in err


def test_attest_works_in_a_repo_without_msmvp_yaml(tmp_path: Path) -> None:
    code, _, err = msmvp(tmp_path, "attest", "5.9", "--by", "x", "--note", "y", "--expires", "2999-01-01")
    assert code == 0, err
    assert attest.load(tmp_path)["5.9"].expires == dt.date(2999, 1, 1)
