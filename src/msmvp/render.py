"""Render a project into an in-memory plan of files: the base plus one component per option.

Every template is a copier template; this module renders them with the same Jinja settings
(read from each ``copier.yml``) and copier's path rules: ``.jinja`` files are rendered and lose
the suffix, other files are copied, and a path part that renders empty skips the file.
The project templates (base and each chosen component's ``project/``) render at the repo root,
the service templates (base and each chosen component's ``service/``) once per service.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from msmvp import _resources, components
from msmvp.errors import TemplateError
from msmvp.manifest import Manifest
from msmvp.options import resolve

SUFFIX = ".jinja"
# libyaml when PyYAML has it: the same safe loading of the copier.yml files, several times faster.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SERVICES_DIR = "services"
# The provenance "template" of a generated lock: msmvp's union lock, taken for that requirements file.
LOCK_TEMPLATE = "msmvp/lockdata/union.lock"
_EXCLUDE = {"__pycache__", ".DS_Store"}


@dataclass(frozen=True)
class PlannedFile:
    """One file of the plan: where it goes, what it holds, and where it came from."""

    path: str
    content: bytes
    template: str
    executable: bool = False
    items: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Source:
    relpath: str  # posix, relative to the template's subdirectory, suffix kept
    is_template: bool
    executable: bool


class _Template:
    """One copier template: its settings, its Jinja environment and its files."""

    def __init__(self, root: Path) -> None:
        config = yaml.load((root / "copier.yml").read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}  # noqa: S506
        self.root = root
        self.name = root.relative_to(_resources.templates_dir()).as_posix()
        self.subdir = root / config.get("_subdirectory", "")
        envops = dict(config.get("_envops", {}))
        envops["undefined"] = jinja2.StrictUndefined
        self.env = jinja2.Environment(  # noqa: S701 - not HTML
            loader=jinja2.FileSystemLoader(self.subdir), bytecode_cache=_bytecode_cache(), **envops
        )
        self.sources = tuple(self._walk())
        self._path_cache: dict[str, jinja2.Template] = {}

    def _walk(self) -> Iterator[_Source]:
        for dirpath, dirnames, filenames in os.walk(self.subdir):
            dirnames[:] = sorted(d for d in dirnames if d not in _EXCLUDE)
            for filename in sorted(filenames):
                if filename in _EXCLUDE or filename.endswith((".pyc", ".pyo")):
                    continue
                full = Path(dirpath) / filename
                rel = full.relative_to(self.subdir).as_posix()
                yield _Source(rel, filename.endswith(SUFFIX), os.access(full, os.X_OK))

    def render_path(self, relpath: str, context: dict[str, Any]) -> str | None:
        if relpath.endswith(SUFFIX):
            relpath = relpath[: -len(SUFFIX)]
        parts = []
        for part in relpath.split("/"):
            if "{" in part:
                tpl = self._path_cache.get(part)
                if tpl is None:
                    tpl = self._path_cache[part] = self.env.from_string(part)
                part = tpl.render(context)
            if not part:
                return None
            parts.append(part)
        return "/".join(parts)

    def render(self, context: dict[str, Any], prefix: str = "") -> Iterator[PlannedFile]:
        for src in self.sources:
            try:
                out = self.render_path(src.relpath, context)
                if out is None:
                    continue
                if src.is_template:
                    content = self.env.get_template(src.relpath).render(context).encode("utf-8")
                else:
                    content = (self.subdir / src.relpath).read_bytes()
            except jinja2.TemplateError as exc:
                line = getattr(exc, "lineno", None)
                where = f"{self.name}/{src.relpath}" + (f":{line}" if line else "")
                raise TemplateError(f"template {where} failed to render: {exc}") from exc
            yield PlannedFile(prefix + out, content, f"{self.name}:{src.relpath}", src.executable)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (Jinja's own cache, keyed by source and version).

    Compiling every template costs more than rendering them all; the cache lives in the
    user's cache directory and is simply not used where that directory cannot be written.
    """
    directory = _resources.cache_dir("jinja")
    return jinja2.FileSystemBytecodeCache(str(directory)) if directory is not None else None


@cache
def _template(root: Path) -> _Template:
    return _Template(root)


def template_roots(options: Mapping[str, str], kind: str) -> list[Path]:
    """The copier templates of ``kind`` (project or service) a project with ``options`` is
    rendered from: the base, then each chosen component's, in axis order."""
    roots = [_resources.templates_dir() / "base" / kind]
    for component in components.chosen(resolve(options)):
        root = component.template_dir(kind)
        if root is not None:
            roots.append(root)
    return roots


def _templates(options: Mapping[str, str], kind: str) -> list[_Template]:
    return [_template(root) for root in template_roots(options, kind)]


def project_context(manifest: Manifest) -> dict[str, Any]:
    """The context every template sees (docs/templates.md)."""
    from msmvp import __version__, locks

    options = resolve(manifest.options)
    return {
        "project_name": manifest.name,
        "project_module": manifest.name.replace("-", "_"),
        "msmvp_version": __version__,
        "python_version": locks.PYTHON_VERSION,
        "services": manifest.service_contexts(),
        **options,
        **components.exports(options),
        "parts": components.parts(options),
    }


def render(manifest: Manifest) -> list[PlannedFile]:
    """Render every file of the project described by ``manifest``, sorted by path: the
    templates' files plus a lock beside each requirements file (:mod:`msmvp.locks`)."""
    from msmvp import locks

    planned = render_files(manifest)
    by_path = {f.path: f for f in planned}
    for source, path, content in locks.plan_locks({f.path: f.content for f in planned}):
        if path in by_path:
            raise TemplateError(f"{by_path[path].template} writes {path}, the lock msmvp makes of {source}")
        by_path[path] = PlannedFile(path, content, f"{LOCK_TEMPLATE}:{source}")
    return [by_path[path] for path in sorted(by_path)]


def render_files(manifest: Manifest) -> list[PlannedFile]:
    """The templates' files of the project described by ``manifest``, sorted by path.

    Two templates writing the same path is an error in the templates, reported with both names.
    """
    context = project_context(manifest)
    options = resolve(manifest.options)
    by_path: dict[str, PlannedFile] = {}

    def add(planned: PlannedFile) -> None:
        other = by_path.get(planned.path)
        if other is not None:
            raise TemplateError(f"{other.template} and {planned.template} both write {planned.path}")
        by_path[planned.path] = planned

    for tpl in _templates(options, "project"):
        for planned in tpl.render(context):
            add(planned)
    service_tpls = _templates(options, "service")
    for service in context["services"]:
        service_context = {**context, "service": service}
        for tpl in service_tpls:
            for planned in tpl.render(service_context, f"{SERVICES_DIR}/{service['name']}/"):
                add(planned)
    return [by_path[path] for path in sorted(by_path)]


def all_templates() -> list[tuple[_Template, str]]:
    """Every template msmvp has (base and every component), with the prefix it renders under."""
    roots: list[tuple[Path, str]] = [
        (_resources.templates_dir() / "base" / "project", ""),
        (_resources.templates_dir() / "base" / "service", f"{SERVICES_DIR}/*/"),
    ]
    for axis, values in components.available().items():
        # Each value, and the shared folders (``_name``) values name in ``uses``, once.
        names = dict.fromkeys(name for value in values for name in (value, *components.load(axis, value).spec.uses))
        for value in names:
            component = components.load(axis, value)
            for kind, prefix in (("project", ""), ("service", f"{SERVICES_DIR}/*/")):
                root = component.template_dir(kind)
                if root is not None:
                    roots.append((root, prefix))
    return [(_template(root), prefix) for root, prefix in roots]


def output_skeletons() -> list[str]:
    """Every path the templates can produce, Jinja expressions as ``*`` (for checklist checks)."""
    out = []
    for tpl, prefix in all_templates():
        for src in tpl.sources:
            rel = src.relpath[: -len(SUFFIX)] if src.is_template else src.relpath
            rel = _EXPR.sub("*", _TAG.sub("", rel))
            out.append(prefix + rel)
    return out


_TAG = re.compile(r"\{%.*?%\}")
_EXPR = re.compile(r"\{\{.*?\}\}")
