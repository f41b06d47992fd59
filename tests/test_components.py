"""The component design: one option value, one folder, and nothing outside it that names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from msmvp import _resources, components, options

TEMPLATES = _resources.templates_dir()
# Values whose names are ordinary words in any project ("none", "both", "rest", "compose", …)
# are checked for branching only; the others must not even be mentioned outside their folder.
# "oidc" is one too: CI and IaC files name OpenID Connect for their cloud logins (GitHub to AWS).
GENERIC = {"none", "both", "rest", "dns", "jwt", "oidc", "db-per-service", "compose", "kubernetes"}
_AXIS = "|".join(a.name for a in options.AXES)
# An option used as a variable in a test: `gateway == 'x'`, `'x' != deploy`, `cache in [...]`,
# `whys[protocol]`. A quoted word, an attribute (`store.kind`) or a printed `{{ gateway }}` is not.
_VAR = rf"(?<![\w.'\"])(?:{_AXIS})(?![\w'\"])"
OPTION_REF = re.compile(
    rf"\{{[{{%][^}}]*?(?:{_VAR}\s*(?:==|!=|\bnot\s+in\b|\bin\b)|(?:==|!=|\bin)\s*{_VAR}|\[\s*{_VAR}\s*\])[^}}]*?[}}%]\}}"
)


def _files() -> list[Path]:
    return sorted(
        p for p in TEMPLATES.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _built() -> list[tuple[str, str]]:
    return [(axis.name, value) for axis in options.AXES for value in sorted(axis.built)]


def _mentions(axis: str, value: str) -> list[str]:
    own = TEMPLATES / "components" / axis / value
    word = re.compile(rf"(?<![\w-]){re.escape(value)}(?![\w-])", re.IGNORECASE)
    found = []
    for path in _files():
        # component.yml is data (evidence conditions may name other axes' values, as the
        # checklist's applies_when does); the rule is about the files that are rendered.
        if path.is_relative_to(own) or path.name == "component.yml":
            continue
        if path.name == "copier.yml" and path.parent.parent.name == "base":
            continue  # its questions are the option model itself, checked against options.AXES below
        rel = path.relative_to(TEMPLATES).as_posix()
        if word.search(rel) or word.search(path.read_text(encoding="utf-8", errors="replace")):
            found.append(rel)
    return found


@pytest.mark.parametrize(("axis", "value"), [bv for bv in _built() if bv[1] not in GENERIC], ids=lambda v: str(v))
def test_no_file_outside_a_component_names_its_value(axis: str, value: str) -> None:
    assert _mentions(axis, value) == []


def test_no_template_branches_on_an_option() -> None:
    """Shared files iterate over what the chosen components declare; they never test an option."""
    offenders = []
    for path in _files():
        text = path.relative_to(TEMPLATES).as_posix() + "\n" + path.read_text(encoding="utf-8", errors="replace")
        for match in OPTION_REF.finditer(text):
            offenders.append(f"{path.relative_to(TEMPLATES).as_posix()}: {match.group(0)}")
    assert offenders == []


def test_every_axis_value_is_a_component_or_planned() -> None:
    for axis in options.AXES:
        assert axis.built, f"{axis.name} has no component"
        assert axis.default in axis.built, f"the default {axis.name}={axis.default} is not built"
        assert set(axis.built) <= set(axis.values), f"{axis.name}: a component folder is not a modelled value"


@pytest.mark.parametrize(("axis", "value"), _built(), ids=lambda v: str(v))
def test_component_loads(axis: str, value: str) -> None:
    component = components.load(axis, value)
    assert component.spec.summary
    for kind in ("project", "service"):
        root = component.template_dir(kind)
        if root is not None:
            config = yaml.safe_load((root / "copier.yml").read_text())
            base = yaml.safe_load((TEMPLATES / "base" / kind / "copier.yml").read_text())
            assert {k: v for k, v in config.items() if k.startswith("_")} == {
                k: v for k, v in base.items() if k.startswith("_")
            }


def test_base_copier_questions_follow_the_option_model() -> None:
    for kind in ("project", "service"):
        config = yaml.safe_load((TEMPLATES / "base" / kind / "copier.yml").read_text())
        for axis in options.AXES:
            assert config[axis.name]["default"] == axis.default, (kind, axis.name)
            assert config[axis.name]["choices"] == list(axis.values), (kind, axis.name)


@pytest.fixture()
def fake_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Point msmvp at a components tree of the test's own (caches cleared before and after)."""
    from msmvp import _resources, checklist

    def clear() -> None:
        _resources.component_values.cache_clear()
        components.load.cache_clear()
        checklist._load_cached.cache_clear()

    def make(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        monkeypatch.setattr(components, "components_dir", lambda: tmp_path)
        clear()
        return tmp_path

    yield make
    monkeypatch.undo()
    clear()


def test_bad_component_evidence_names_the_component_file_and_line(fake_components) -> None:  # type: ignore[no-untyped-def]
    from msmvp import checklist
    from msmvp.errors import ChecklistError

    root = fake_components(
        {
            "gateway/envoy/component.yml": (
                "summary: x\nevidence:\n  '4.2':\n    present:\n      - path: a\n    configured:\n      - path: b\n"
            )
        }
    )
    with pytest.raises(ChecklistError) as info:
        checklist.load()
    # configured needs `contains`: line 7 is that entry
    assert str(info.value).startswith(f"{root / 'gateway/envoy/component.yml'}:7: item 4.2: configured.0.contains")


def test_component_evidence_for_an_unknown_item_is_an_error(fake_components) -> None:  # type: ignore[no-untyped-def]
    from msmvp import checklist
    from msmvp.errors import ChecklistError

    fake_components({"gateway/envoy/component.yml": "summary: x\nevidence:\n  '9.9':\n    present: [{path: a}]\n"})
    with pytest.raises(ChecklistError, match=r"component.yml:3: item 9.9: no item '9.9'"):
        checklist.load()


def test_component_evidence_applies_only_where_the_value_is_chosen() -> None:
    from msmvp import checklist

    item = checklist.load().item("4.2")
    envoy_checks = [c for c in item.evidence.configured if "envoy" in c.path]
    assert envoy_checks and all(c.when.get("gateway") == ["envoy"] for c in envoy_checks)
    both = [c for c in item.evidence.configured if "k8s" in c.path]
    assert both and all(set(c.when["deploy"]) == {"kubernetes", "both"} for c in both)
