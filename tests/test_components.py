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
GENERIC = {"none", "both", "rest", "dns", "jwt", "db-per-service", "compose", "kubernetes"}
OPTION_REF = re.compile(r"(\{\{|\{%)[^}]*?\b(" + "|".join(a.name for a in options.AXES) + r")\b[^}]*?(\}\}|%\})")


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
        if path.is_relative_to(own):
            continue
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
