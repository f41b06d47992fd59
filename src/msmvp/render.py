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
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from msmvp import _resources, components, domain, migrations, targets
from msmvp.errors import TemplateError
from msmvp.manifest import Manifest
from msmvp.options import resolve
from msmvp.provenance import Provenance, Record

SUFFIX = ".jinja"
# libyaml when PyYAML has it: the same safe loading of the copier.yml files, several times faster.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SERVICES_DIR = targets.SERVICES_DIR
# The provenance "template" of a generated lock: msmvp's union lock, taken for that requirements file.
LOCK_TEMPLATE = "msmvp/lockdata/union.lock"
# A service template file whose path names this is rendered once per service the service calls.
CALLEE = "{{ callee."
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
            # The template folder too: an `{% include %}` names its file from there, as copier does.
            loader=jinja2.FileSystemLoader([self.subdir, root]),
            bytecode_cache=_bytecode_cache(),
            **envops,
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

    def render(
        self, context: dict[str, Any], prefix: str = "", only: Container[str] | None = None
    ) -> Iterator[PlannedFile]:
        """The template's files (``only``: those whose ``template:relpath`` is in it)."""
        for src in self.sources:
            if only is not None and f"{self.name}:{src.relpath}" not in only:
                continue
            for each in _per_item(src.relpath, context):
                try:
                    out = self.render_path(src.relpath, each)
                    if out is None:
                        continue
                    if src.is_template:
                        content = self.env.get_template(src.relpath).render(each).encode("utf-8")
                    else:
                        content = (self.subdir / src.relpath).read_bytes()
                except jinja2.TemplateError as exc:
                    line = getattr(exc, "lineno", None)
                    where = f"{self.name}/{src.relpath}" + (f":{line}" if line else "")
                    raise TemplateError(f"template {where} failed to render: {exc}") from exc
                yield PlannedFile(prefix + out, content, f"{self.name}:{src.relpath}", src.executable)


def _per_item(relpath: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The contexts a source file is rendered with: one per service the rendered service calls
    (as ``callee``) when its path names ``callee`` (``{% if callee is defined %}{{ callee.module }}{% endif %}``:
    copier, given no ``callee``, skips the file), one per revision of the service's domain history
    (as ``revision``) when it names ``revision``, else one."""
    if "service" not in context:
        return [context]
    if CALLEE in relpath:
        calls = context["service"]["calls"]
        return [{**context, "callee": callee} for callee in context["services"] if callee["name"] in calls]
    if migrations.REVISION in relpath:
        return [{**context, "revision": revision} for revision in context["service"]["revisions"]]
    return [context]


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


def project_context(manifest: Manifest, history: migrations.History | None = None) -> dict[str, Any]:
    """The context every template sees (docs/templates.md). ``history``: the services' domain
    history (:mod:`msmvp.migrations`; by default a new project's, each base the domain now)."""
    from msmvp import __version__, locks

    options = resolve(manifest.options)
    covered = (history or migrations.History()).covering(manifest)
    services = [{**s, **covered.contexts(s["name"], _field_names(s))} for s in manifest.service_contexts()]
    return {
        "project_name": manifest.name,
        "project_module": manifest.name.replace("-", "_"),
        "msmvp_version": __version__,
        "python_version": locks.PYTHON_VERSION,
        "services": services,
        # Mermaid erDiagram of the references across services (project templates only: see targets).
        "domain_diagram": domain.mermaid(manifest.domain_input()),
        **options,
        **components.exports(options),
        "parts": components.parts(options),
    }


def _field_names(service: dict[str, Any]) -> dict[str, list[str]]:
    """The fields of each resource the service declares, by name, in order (the gRPC contract's
    field numbers follow them: :func:`msmvp.domain.proto_numbers`)."""
    return {r["name"]: [f["name"] for f in r["fields"]] for r in service["resources"] if not r["default"]}


def render(manifest: Manifest, history: migrations.History | None = None) -> list[PlannedFile]:
    """Render every file of the project described by ``manifest``, sorted by path: the
    templates' files plus a lock beside each requirements file (:mod:`msmvp.locks`)."""
    return _render_project(manifest, None, None, history).files


@dataclass(frozen=True)
class Rendered:
    """A project's render. ``reused``: the files of service folders whose inputs are those of the
    last render (their fingerprint in ``previous``), not rendered again: path → their last record,
    which the render would reproduce byte for byte. ``targets``: the fingerprint of each service
    folder that holds nothing but its own render (see :mod:`msmvp.targets`)."""

    files: list[PlannedFile]
    reused: dict[str, Record] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)


class _Unavailable(Exception):
    """A reused file's content is needed (a lock includes it) and cannot be had as it was rendered."""


def render_project(
    manifest: Manifest,
    previous: Provenance | None = None,
    root: Path | None = None,
    history: migrations.History | None = None,
) -> Rendered:
    """Render the project, reusing the service folders whose fingerprint is the one ``previous``
    recorded (``root``: the project on disk, where a lock finds a reused requirements file;
    ``history``: the services' domain history, see :func:`project_context`)."""
    if previous is not None and previous.targets:
        try:
            return _render_project(manifest, previous, root, history)
        except _Unavailable:
            pass
    return _render_project(manifest, None, None, history)


def _render_project(
    manifest: Manifest, previous: Provenance | None, root: Path | None, history: migrations.History | None
) -> Rendered:
    from msmvp import locks

    by_path, reused, prints = _render_templates(manifest, previous, history)
    texts = _Texts({path: f.content for path, f in by_path.items()}, reused, root)
    reads: dict[str, set[str]] = {}
    for source, path, content in locks.plan_locks(texts, list(by_path), reads):
        if path in by_path:
            raise TemplateError(f"{by_path[path].template} writes {path}, the lock msmvp makes of {source}")
        by_path[path] = PlannedFile(path, content, f"{LOCK_TEMPLATE}:{source}")
    for source, read in reads.items():  # a folder's lock made from files outside it is not its own render
        name = targets.service_of(source)
        if name is not None and any(targets.service_of(r) != name for r in read):
            prints.pop(targets.prefix(name), None)
    return Rendered([by_path[path] for path in sorted(by_path)], reused, prints)


def _render_templates(
    manifest: Manifest, previous: Provenance | None, history: migrations.History | None = None
) -> tuple[dict[str, PlannedFile], dict[str, Record], dict[str, str]]:
    """The templates' files by path, the reused records and the folders' fingerprints (see
    :class:`Rendered`). Two templates writing the same path is an error in the templates,
    reported with both names."""
    context = project_context(manifest, history)
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
    # A service folder a project template also writes into holds more than its own render.
    mixed = {targets.service_of(path) for path in by_path}
    service_tpls = _templates(options, "service")
    fingerprints = targets.Fingerprints(service_tpls, context)
    last = _records_by_service(previous)
    reused: dict[str, Record] = {}
    prints: dict[str, str] = {}
    for service in context["services"]:
        name = service["name"]
        prefix = targets.prefix(name)
        only: frozenset[str] | None = None  # render every file of the folder
        if name not in mixed:
            prints[prefix] = fingerprints.of(service)
            records = last.get(name)
            same = (
                records
                and previous is not None
                and previous.targets.get(prefix) == targets.seal(prints[prefix], records)
            )
            if records and same and not any(r.decision for r in records.values()):
                reused.update(_reusable(records, fingerprints.wide))
                only = fingerprints.wide
        if only is not None and not only:
            continue
        service_context = {**context, "service": service}
        for tpl in service_tpls:
            for planned in tpl.render(service_context, prefix, only):
                add(planned)
    for path in by_path.keys() & reused.keys():  # a lock made again, of a requirements file made again
        del reused[path]
    return by_path, reused, prints


def _reusable(records: Mapping[str, Record], wide: frozenset[str]) -> dict[str, Record]:
    """A folder's records but those of wide template files (and the locks of their files)."""
    return {
        path: r
        for path, r in records.items()
        if r.template not in wide
        and not (r.template.startswith(f"{LOCK_TEMPLATE}:") and _source_template(records, r) in wide)
    }


def _source_template(records: Mapping[str, Record], lock: Record) -> str:
    source = records.get(lock.template.removeprefix(f"{LOCK_TEMPLATE}:"))
    return source.template if source is not None else ""


def _records_by_service(previous: Provenance | None) -> dict[str, dict[str, Record]]:
    out: dict[str, dict[str, Record]] = {}
    for path, record in (previous.files if previous is not None else {}).items():
        name = targets.service_of(path)
        if name is not None:
            out.setdefault(name, {})[path] = record
    return out


class _Texts(Mapping[str, bytes]):
    """The rendered files' contents, and a reused file's content when a lock includes it: read
    from the project when it is still as rendered, else from git's object store."""

    def __init__(self, rendered: dict[str, bytes], reused: Mapping[str, Record], root: Path | None) -> None:
        self._rendered = rendered
        self._reused = reused
        self._root = root

    def __getitem__(self, path: str) -> bytes:
        if path in self._rendered:
            return self._rendered[path]
        record = self._reused[path]
        data = _as_rendered(self._root, path, record) if self._root is not None else None
        if data is None:
            raise _Unavailable(path)
        self._rendered[path] = data
        return data

    def __contains__(self, path: object) -> bool:
        return path in self._rendered or path in self._reused

    def __iter__(self) -> Iterator[str]:
        return iter(self._rendered.keys() | self._reused.keys())

    def __len__(self) -> int:
        return len(self._rendered.keys() | self._reused.keys())


def _as_rendered(root: Path, path: str, record: Record) -> bytes | None:
    from msmvp.provenance import sha256

    try:
        data = (root / path).read_bytes()
    except OSError:
        data = None
    if data is not None and sha256(data) == record.sha256:
        return data
    if not record.blob or not (root / ".git").exists():
        return None
    from msmvp.errors import GitError
    from msmvp.gitops import cat_blob

    try:
        blob = cat_blob(root, record.blob)
    except GitError:
        return None
    return blob if blob is not None and sha256(blob) == record.sha256 else None


def render_files(manifest: Manifest, history: migrations.History | None = None) -> list[PlannedFile]:
    """The templates' files of the project described by ``manifest``, sorted by path (no locks)."""
    by_path = _render_templates(manifest, None, history)[0]
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
