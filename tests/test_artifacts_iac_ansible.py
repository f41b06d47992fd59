"""Ansible (iac=ansible): the playbook parses, passes ansible-lint's production profile, and runs
in check mode against this machine (-c local) without changing it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import REQUIRE_TOOLS, require_tool, run

HYPHENATED = {"name": "acme-store", "services": "users,orders:users,order-items:orders+users"}
# What a real (not check-mode) run would create on the host of HYPHENATED.
WOULD_CREATE = [
    "/etc/nftables.conf",
    "/etc/acme-store",
    "/srv/acme_store",
    "/etc/sudoers.d/acme-store-admins",
    "/etc/ssh/sshd_config.d/10-acme-store.conf",
    "/etc/systemd/system/acme-store-users.service",
    "/etc/docker/daemon.json",
    "/etc/crypttab",
    "/etc/postgresql-common/createcluster.d/10-acme-store.conf",
]


@pytest.fixture(scope="module")
def ansible_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hyphenated project (project and service names need escaping in unit and table names)."""
    from msmvp.testing import render_project

    return render_project(tmp_path_factory.mktemp("ansible") / "acme-store", iac="ansible", **HYPHENATED)


@pytest.fixture()
def ansible_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Ansible's home, temp and collections in a temp dir; no colour."""
    home = tmp_path / "home"
    home.mkdir()
    for name, value in {
        "HOME": str(home),
        "ANSIBLE_HOME": str(home / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(home / ".ansible" / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


def _playbook_dir(project: Path) -> Path:
    return project / "infra" / "ansible"


@pytest.mark.parametrize("inventory", ["staging", "production", "check"])
def test_playbook_syntax(ansible_project: Path, ansible_env: dict[str, str], inventory: str) -> None:
    tool = require_tool("ansible-playbook", "pip install ansible-core")
    cmd = [tool, "--syntax-check", "-i", f"inventories/{inventory}/hosts.yml", "site.yml"]
    result = run(cmd, cwd=_playbook_dir(ansible_project), env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile(ansible_project: Path, ansible_env: dict[str, str]) -> None:
    tool = require_tool("ansible-lint", "pip install ansible-lint")
    work = _playbook_dir(ansible_project)
    result = run([tool, "--profile", "production", "--nocolor"], cwd=work, env=ansible_env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_check_mode_against_this_machine_changes_nothing(
    ansible_project: Path, ansible_env: dict[str, str], tmp_path: Path
) -> None:
    """The whole playbook, every group on localhost, with a (non-LUKS, empty) data device file so
    the encryption tasks plan too. Check mode must pass and leave the machine as it was."""
    tool = require_tool("ansible-playbook", "pip install ansible-core")
    reason = ""
    if os.geteuid() != 0:
        reason = "the check run inspects the host as root"
    elif not Path("/usr/bin/python3").exists() or run(["/usr/bin/python3", "-c", "import apt"]).returncode != 0:
        reason = "needs Debian's /usr/bin/python3 with python3-apt"
    elif shutil.which("apt-get") is None:
        reason = "needs a Debian host"
    if reason:
        if REQUIRE_TOOLS:
            pytest.fail(f"MSMVP_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)
    device = tmp_path / "data.img"
    with device.open("wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    before = {path: os.path.lexists(path) for path in WOULD_CREATE}
    cmd = [tool, "-i", "inventories/check/hosts.yml", "site.yml", "--check", "--diff", "-c", "local"]
    cmd += ["-e", f"data_volume_device={device}"]
    result = run(cmd, cwd=_playbook_dir(ansible_project), env=ansible_env, timeout=580)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    recap = output[output.rindex("PLAY RECAP") :]
    assert "failed=0" in recap and "unreachable=0" in recap, recap
    # Every role planned something: the services' units and the encrypted volume among them.
    for needle in (
        "Description=acme-store order-items service",
        f"acme_store_data {device} /etc/acme-store/keys/acme_store_data.key luks,discard",
        "hostssl   order_items  order_items",
        "table inet acme_store",
    ):
        assert needle in output, needle
    assert {path: os.path.lexists(path) for path in WOULD_CREATE} == before
    assert device.read_bytes() == bytes(16 * 1024 * 1024)


def test_services_and_secrets(ansible_project: Path) -> None:
    """One unit per service from the manifest; secrets only in root-only files, never in units."""
    work = _playbook_dir(ansible_project)
    project = yaml.safe_load((work / "group_vars" / "all.yml").read_text())
    assert [s["name"] for s in project["project_services"]] == ["users", "orders", "order-items"]
    assert next(s for s in project["project_services"] if s["name"] == "order-items")["calls"] == ["orders", "users"]
    tasks = yaml.safe_load((work / "roles" / "services" / "tasks" / "main.yml").read_text())
    by_src = {t.get("ansible.builtin.template", {}).get("src"): t for t in tasks}
    assert by_src["service.env.j2"]["ansible.builtin.template"]["mode"] == "0600"
    unit = (work / "roles" / "services" / "templates" / "service.service.j2").read_text()
    assert "vault_" not in unit and "--env-file" in unit and "--publish 127.0.0.1:" in unit
    production = yaml.safe_load((work / "inventories" / "production" / "group_vars" / "all" / "main.yml").read_text())
    assert production["data_volume_allow_unencrypted"] is False
    for env in ("staging", "production"):
        example = yaml.safe_load((work / "inventories" / env / "group_vars" / "all" / "vault.yml.example").read_text())
        assert sorted(example["vault_db_passwords"]) == ["order-items", "orders", "users"]
        assert not (work / "inventories" / env / "group_vars" / "all" / "vault.yml").exists()
    # Only modules ansible-core ships: nothing to fetch from Galaxy.
    for path in work.rglob("*.yml"):
        for line in path.read_text().splitlines():
            stripped = line.strip().removeprefix("- ")
            if stripped.startswith(("community.", "ansible.posix.", "community_")):
                pytest.fail(f"{path}: {line}")


def test_ansible_evidence_scaffolds_encryption_and_deployment(ansible_project: Path) -> None:
    """The items Terraform's evidence covers are covered by the playbook's own files."""
    from msmvp import status

    report = {s.id: s for s in status.compute(ansible_project).items}
    for item_id in ("4.3", "4.4", "5.1"):
        assert report[item_id].level == "configured", item_id
        assert all(c.ok for c in report[item_id].checks), [c.detail for c in report[item_id].checks if not c.ok]
        assert any("infra/ansible/" in f.path for f in report[item_id].files), item_id
