"""Components: one folder per option value, holding everything that value brings.

``templates/components/<axis>/<value>/`` has a ``component.yml`` (what the value declares:
its contributions to shared files, the context values it exports, its checklist evidence)
and up to two copier templates, ``project/`` (rendered at the repo root) and ``service/``
(rendered into ``services/<name>/`` once per service). A value is *built* exactly when its
folder exists; docs/templates.md explains how to add one.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from msmvp import _resources
from msmvp.errors import TemplateError

COMPONENT_FILE = "component.yml"
_CACHE_FORMAT = "spec/4"  # what the cache pickles: a change of Spec or of Parts' fields gets new entries
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Spec:
    """A parsed, validated ``component.yml`` as plain data (``parts``: what :func:`_schemas`'s
    ``Parts`` dumps; evidence is kept raw: the checklist loader validates it)."""

    summary: str
    uses: list[str]
    exports: dict[str, str]
    parts: dict[str, list[Any]]
    evidence: dict[str, Any]


@cache
def _schemas() -> dict[str, Any]:
    """The pydantic schema of ``component.yml``: imported only for a file not in the cache."""
    from pydantic import BaseModel, ConfigDict, Field

    class _Model(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    class EnvVar(_Model):
        """One `.env.example` entry."""

        name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
        value: str = ""
        help: str = ""

    class DeployVar(_Model):
        """A setting every service gets from the deploy targets (Compose, Kubernetes, IaC)."""

        name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
        value: str = ""  # the default (Compose `${NAME:-value}`, the Kubernetes ConfigMap)
        secret: bool = False  # from a Secret / the Ansible vault, never a ConfigMap
        required: bool = False  # Compose refuses to start without it

    class CiCheck(_Model):
        """A job every CI system runs for this value: shell commands in a container image."""

        name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
        image: str
        workdir: str = "."
        run: list[str] = Field(min_length=1)

    class ScrapeJob(_Model):
        """A Prometheus scrape job (Compose target; Kubernetes pods are found by annotation)."""

        job_name: str
        target: str
        metrics_path: str = "/metrics"

    class ConfigMap(_Model):
        """A ConfigMap the deploy step publishes from repo files (kustomize cannot load them)."""

        name: str
        files: list[str] = Field(min_length=1)

    class Doc(_Model):
        title: str
        path: str

    class Parts(_Model):
        """What a component adds to the files every project shares. Lists concatenate in axis order."""

        compose_files: list[str] = Field(default_factory=list)
        kustomize_components: list[str] = Field(default_factory=list)
        dev_requirements: list[str] = Field(default_factory=list)
        service_requirements: list[str] = Field(default_factory=list)
        env: list[EnvVar] = Field(default_factory=list)
        service_env: list[EnvVar] = Field(default_factory=list)
        deploy_env: list[DeployVar] = Field(default_factory=list)
        ci_checks: list[CiCheck] = Field(default_factory=list)
        # Debian/Ubuntu packages the CI test job installs (apt) before `make test` (e.g. a gateway binary).
        test_packages: list[str] = Field(default_factory=list)
        scrape_jobs: list[ScrapeJob] = Field(default_factory=list)
        docs: list[Doc] = Field(default_factory=list)
        gitignore: list[str] = Field(default_factory=list)
        # Commands `make codegen` runs (before install's end, test and dev): code generated from contracts.
        codegen: list[str] = Field(default_factory=list)
        # Dockerfile instructions the service image's builder stage runs (WORKDIR /build, the
        # service folder as context, after the locked install): what they write under
        # /build/generated/ is copied over /app in the runtime stage (e.g. generated code).
        image_build_steps: list[str] = Field(default_factory=list)
        k8s_configmaps: list[ConfigMap] = Field(default_factory=list)
        # Managed data stores the infrastructure provisions (kind, name, engine, version, port, …).
        stores: list[dict[str, Any]] = Field(default_factory=list)

    class SpecSchema(_Model):
        """A parsed ``component.yml`` (evidence is kept raw: the checklist loader validates it)."""

        summary: str = Field(min_length=1)
        uses: list[str] = Field(default_factory=list)
        exports: dict[str, str] = Field(default_factory=dict)
        parts: Parts = Field(default_factory=Parts)
        evidence: dict[str, Any] = Field(default_factory=dict)

    return {"spec": SpecSchema, "parts": Parts}


def _validated(raw: Any, path: Path) -> Spec:
    from pydantic import ValidationError

    try:
        model = _schemas()["spec"].model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise TemplateError(f"{path}: {where}: {err['msg']}", hint="see docs/templates.md for component.yml") from None
    data = model.model_dump(mode="json")
    return Spec(data["summary"], data["uses"], data["exports"], data["parts"], dict(model.evidence))


@dataclass(frozen=True)
class Component:
    """One option value's folder."""

    axis: str
    value: str
    root: Path
    spec: Spec

    @property
    def key(self) -> str:
        return f"{self.axis}/{self.value}"

    @property
    def spec_path(self) -> Path:
        return self.root / COMPONENT_FILE

    def template_dir(self, kind: str) -> Path | None:
        """``project`` or ``service``: the copier template of that kind, if the value has one."""
        path = self.root / kind
        return path if (path / "copier.yml").is_file() else None


def components_dir() -> Path:
    return _resources.templates_dir() / "components"


def available() -> dict[str, tuple[str, ...]]:
    """Built values per axis: the folders that hold a ``component.yml`` (no YAML is read)."""
    return _resources.component_values(components_dir())


@cache
def load(axis: str, value: str) -> Component:
    """The component of ``axis=value``; a malformed ``component.yml`` is a :class:`TemplateError`."""
    root = components_dir() / axis / value
    path = root / COMPONENT_FILE
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc.strerror}") from None
    entry = _cache_entry(path, text)
    spec = _from_cache(entry) if entry is not None else None
    if spec is None:
        try:
            raw = yaml.load(text.decode("utf-8"), Loader=_SafeLoader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise TemplateError(f"{path}: not valid YAML: {exc}") from None
        spec = _validated(raw, path)
        if entry is not None:
            _resources.cache_put(entry, pickle.dumps(spec))
    for used in spec.uses:
        if not (components_dir() / axis / used / COMPONENT_FILE).is_file():
            raise TemplateError(f"{path}: uses {axis}/{used}, which is not a component")
    return Component(axis, value, root, spec)


def chosen(options: Mapping[str, str]) -> list[Component]:
    """The components a project with ``options`` is made of, in axis order (``uses`` expanded)."""
    out: list[Component] = []
    for axis, value in options.items():
        top = load(axis, value)
        out.extend(load(axis, used) for used in top.spec.uses)
        out.append(top)
    return out


def providers(axis: str, value: str) -> list[str]:
    """The values of ``axis`` whose choice brings in ``value`` (itself and those that use it)."""
    return [v for v in available().get(axis, ()) if v == value or value in load(axis, v).spec.uses]


def exports(options: Mapping[str, str]) -> dict[str, str]:
    """Context values: every name any value of an axis exports, "" unless a chosen one sets it."""
    out: dict[str, str] = {}
    for axis, values in available().items():
        for value in values:
            for name in load(axis, value).spec.exports:
                out.setdefault(name, "")
    for component in chosen(options):
        out.update(component.spec.exports)
    return out


def parts(options: Mapping[str, str]) -> dict[str, list[Any]]:
    """The chosen components' contributions, concatenated in axis order, as plain data."""
    components = chosen(options)
    names = components[0].spec.parts if components else _schemas()["parts"].model_fields
    merged: dict[str, list[Any]] = {name: [] for name in names}
    for component in components:
        for name, items in component.spec.parts.items():
            merged[name].extend(copy.deepcopy(items))
    return merged


def _cache_entry(path: Path, text: bytes) -> Path | None:
    """Where the validated ``component.yml`` is kept between runs, keyed by its bytes, path and
    msmvp's version (None when caching is off): a run then reads no YAML and imports no pydantic."""
    from msmvp import __version__

    directory = _resources.cache_dir("components")
    if directory is None:
        return None
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{__version__}\0{path}\0".encode() + text)
    return directory / f"{digest.hexdigest()}.pickle"


def _from_cache(entry: Path) -> Spec | None:
    loaded = _resources.cache_get(entry)
    return loaded if isinstance(loaded, Spec) else None
