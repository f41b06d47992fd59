"""Input fingerprints of the rendered service folders, so a regeneration renders only what changed.

A service's folder (``services/<name>/``) is rendered from the service templates with the
project's context and that service's entry. Its fingerprint hashes everything that render reads:
msmvp's version and rendering code, Jinja's version, every file of the chosen service templates,
the union lock the folder's locks come from, the project context, the service's entry and the
entries of ``services`` its templates can reach. The provenance keeps the fingerprint of each
folder whose records are exactly that render; a later run whose fingerprint is the same reuses
those records instead of rendering the folder again (its files would come out byte for byte the
same). Anything else (a changed template, option, name, port, call, msmvp or lock) renders it.

Service templates loop over ``services`` to reach the services one calls or is called by
(``{% for c in services if c.name in service.calls %}``). Such a loop reads only the entries it
keeps, so the fingerprint holds only the related entries, and adding a service leaves the other
folders alone. A template file that uses ``services`` in any other way (a list of every
service's subject, say) is "wide": it is rendered in every folder on every run, and the rest of
the folder is reused. The check reads the templates' tokens (Jinja's lexer) and is kept in the
user's cache, keyed by the templates' contents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msmvp import __version__, _resources

if TYPE_CHECKING:
    from msmvp.provenance import Record
    from msmvp.render import _Template

FORMAT = "msmvp-targets/1"
SERVICES_DIR = "services"
# msmvp's modules whose code decides what a service folder holds (the template context, the
# render and path rules, the locks): a change of them renders every folder again.
_CODE = (
    "render.py",
    "locks.py",
    "manifest.py",
    "components.py",
    "options.py",
    "targets.py",
    "domain.py",
    "migrations.py",
    "openapi.py",
    "openapi_build.py",
)
# The keys of a service's entry only its own folder renders (its domain history's migrations).
_OWN = frozenset({"base_resources", "revisions", "migration_steps", "migration_imports", "migration_datetime"})
# The attributes of ``service`` that name other services, through which a loop may filter them.
_RELATIONS = ("calls", "called_by")
# Context values of the whole project's domain that only project templates read: a folder's
# fingerprint leaves them out, and a service template file naming one is wide.
PROJECT_ONLY = ("domain_diagram",)


def prefix(name: str) -> str:
    """The folder a service is rendered into, as the provenance's paths start."""
    return f"{SERVICES_DIR}/{name}/"


def service_of(path: str) -> str | None:
    """The service whose folder holds ``path``, or None."""
    head, sep, rest = path.partition("/")
    if head != SERVICES_DIR or not sep:
        return None
    name, sep, _ = rest.partition("/")
    return name if sep else None


def folder_of(path: str) -> str:
    """The service folder (``services/NAME/``) that holds ``path``, or ""."""
    name = service_of(path)
    return prefix(name) if name is not None else ""


def seal(fingerprint: str, records: Mapping[str, Record]) -> str:
    """What the provenance keeps for a folder: its fingerprint bound to the folder's records, so
    records changed since (a provenance merged from two branches, edited by hand) are not taken
    for the render of that fingerprint."""
    h = hashlib.sha256(fingerprint.encode())
    for path in sorted(records):
        r = records[path]
        h.update(f"\0{path}\0{r.template}\0{r.sha256}\0{r.blob}\0{r.decision}".encode())
    return h.hexdigest()


@cache
def _digest(templates: tuple[_Template, ...]) -> str:
    """What every service folder is rendered with, besides its context (once a process: the
    template files do not change while msmvp runs)."""
    import jinja2

    from msmvp import locks

    h = hashlib.sha256(f"{FORMAT}\0{__version__}\0{jinja2.__version__}\0".encode())
    here = Path(__file__).parent
    for name in _CODE:
        try:
            code = (here / name).read_bytes()
        except OSError:  # only compiled modules shipped: msmvp's version stands for them
            code = b""
        h.update(name.encode() + b"\0" + code + b"\0")
    h.update(locks.union_bytes())
    for tpl in templates:
        h.update(f"\0template {tpl.name}\0".encode() + (tpl.root / "copier.yml").read_bytes())
        for src in tpl.sources:
            h.update(f"\0{src.relpath}\0{int(src.is_template)}{int(src.executable)}\0".encode())
            h.update((tpl.subdir / src.relpath).read_bytes())
    return h.hexdigest()


def _uses_related_only(tokens: Iterable[tuple[int, str, str]]) -> bool:
    """Whether every ``services`` name in a template's tokens is a loop over the related services:
    ``for X in services if X.name in service.calls`` (or ``called_by``), the filter ending the tag."""
    significant = [(kind, value) for _, kind, value in tokens if kind not in ("whitespace", "data")]
    for i, (kind, value) in enumerate(significant):
        if kind != "name" or value != "services":
            continue
        if i and significant[i - 1] == ("operator", "."):
            continue  # an attribute (parts.services), not the context's list
        before = significant[max(i - 3, 0) : i]
        after = significant[i + 1 : i + 10]
        if len(before) != 3 or before[0] != ("name", "for") or before[1][0] != "name" or before[2] != ("name", "in"):
            return False
        var = before[1][1]
        expected = [
            ("name", "if"),
            ("name", var),
            ("operator", "."),
            ("name", "name"),
            ("name", "in"),
            ("name", "service"),
            ("operator", "."),
        ]
        if after[:7] != expected or len(after) < 9:
            return False
        if after[7][0] != "name" or after[7][1] not in _RELATIONS or after[8][0] != "block_end":
            return False
    return True


def _wide(templates: Sequence[_Template]) -> list[str]:
    """The service template files (``template:relpath``) that reach ``services`` other than
    through loops over the related services (see the module's docstring)."""
    out = []
    for tpl in templates:
        for src in tpl.sources:
            texts = [src.relpath]
            if src.is_template:
                texts.append((tpl.subdir / src.relpath).read_text(encoding="utf-8"))
            if any(
                ("services" in text and not _uses_related_only(tpl.env.lex(text)))
                or any(k in text for k in PROJECT_ONLY)
                for text in texts
            ):
                out.append(f"{tpl.name}:{src.relpath}")
    return out


class Fingerprints:
    """The fingerprint of each service folder of a project (see the module's docstring).

    ``wide``: the template files (``template:relpath``, as the provenance names them) that read
    more of ``services`` than the related entries. The fingerprint leaves them out: they are
    rendered in every folder each time, the folder's other files only when it changes.
    """

    def __init__(self, templates: Sequence[_Template], context: Mapping[str, Any]) -> None:
        digest = _digest(tuple(templates))
        self.wide = frozenset(_cached_wide(digest, templates))
        base = {k: v for k, v in context.items() if k != "services" and k not in PROJECT_ONLY}
        self._base = hashlib.sha256(digest.encode() + _json(base)).digest()
        self._services: Sequence[Mapping[str, Any]] = context["services"]

    def of(self, service: Mapping[str, Any]) -> str:
        related = {n for relation in _RELATIONS for n in service[relation]}
        # Another service's migrations are not this folder's input (msmvp.migrations).
        reach = [{k: v for k, v in s.items() if k not in _OWN} for s in self._services if s["name"] in related]
        return hashlib.sha256(self._base + _json(service) + b"\0" + _json(reach)).hexdigest()


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr).encode()


def _cached_wide(digest: str, templates: Sequence[_Template]) -> list[str]:
    """:func:`_wide`, kept in the user's cache by the templates' digest (lexing them costs more
    than a run of add-service spends on everything else a folder needs)."""
    directory = _resources.cache_dir("targets")
    entry = directory / f"{digest}.wide.json" if directory is not None else None
    if entry is not None:
        try:
            kept = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, list) and all(isinstance(k, str) for k in kept):
            return kept
    wide = _wide(templates)
    if entry is not None:
        _resources.cache_put(entry, json.dumps(wide).encode())
    return wide
