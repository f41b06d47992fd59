"""`msmvp status` per discovery and auth value: items 2.7 (service discovery tested) and 4.8 (RBAC)
carry evidence of the chosen value, naming its own files and a command that verifies it.

Statically every check holds and the value's files and command are named; with
`--explain ID --verify` the value's commands pass and the item is done (verified).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from msmvp import status
from msmvp.checklist import matches

from .conftest import _render

# value -> (a file the value's evidence names, a part of its command)
DISCOVERY = {
    "dns": ("tests/integration/test_flows.py", "tests/integration/test_flows.py"),
    "etcd": ("tests/integration/test_discovery_etcd.py", "test_discovery_etcd.py"),
    "consul": ("services/{service}/tests/test_discovery.py", "services/*/tests/test_discovery.py"),
}
AUTH = {
    "jwt": ('claims\\.get\\("roles"', "missing_role or roles_are_ranked"),
    "api-key": ('frozenset\\(entry\\["roles"\\]\\)', "missing_role or roles_are_ranked"),
    "oidc": ("oidc_roles_claim", "roles_come_from_the_configured_claim"),
}
CASES = [("2.7", "discovery", v) for v in DISCOVERY] + [("4.8", "auth", v) for v in AUTH]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("per-value")
    return {(axis, value): _render(root / f"{axis}-{value}" / "shop", **{axis: value}) for _, axis, value in CASES}


def _expected(axis: str, value: str) -> tuple[str, str]:
    return (DISCOVERY if axis == "discovery" else AUTH)[value]


@pytest.mark.parametrize(("item_id", "axis", "value"), CASES, ids=[f"{i}-{v}" for i, _, v in CASES])
def test_the_items_evidence_names_the_values_files_and_command(
    projects: dict[tuple[str, str], Path], item_id: str, axis: str, value: str
) -> None:
    report = status.compute(projects[(axis, value)])
    item = report.item(item_id)
    assert item.checks and all(c.ok for c in item.checks), [(c.spec, c.detail) for c in item.checks if not c.ok]
    assert item.level == "configured" and item.top == "verified"
    named, command = _expected(axis, value)
    assert any(named in c.spec for c in item.checks), [c.spec for c in item.checks]
    commands = [c.run for c in item.item.evidence.verified if matches(c.when, report.options)]
    assert any(command in run for run in commands), commands


@pytest.mark.slow
@pytest.mark.parametrize(("item_id", "axis", "value"), CASES, ids=[f"{i}-{v}" for i, _, v in CASES])
def test_verify_runs_the_values_commands_and_the_item_is_done(
    projects: dict[tuple[str, str], Path], item_id: str, axis: str, value: str
) -> None:
    report = status.compute(projects[(axis, value)], verify=True, verify_only=item_id)
    item = report.item(item_id)
    results = [(c.command, c.outcome, c.output[-1500:]) for c in item.commands]
    assert item.commands and all(c.outcome == "passed" for c in item.commands), results
    assert item.level == "verified" and item.done
    _named, command = _expected(axis, value)
    assert any(command in c.command for c in item.commands)
