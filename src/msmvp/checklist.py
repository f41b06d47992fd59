"""The checklist as data: load, validate (with file and line), and evaluate conditions.

A checklist is a YAML file (see ``checklists/microservices-mvp.yaml``). Loading checks it against
the schema below and reports the first problem as ``FILE:LINE: item ID: problem``.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from msmvp import _resources
from msmvp.errors import ChecklistError
from msmvp.options import AXIS_BY_NAME, defaults

SCHEMA = "msmvp-checklist/1"
BUILTIN = "microservices-mvp"
_LINE = "__line__"
_KEYLINES = "__keylines__"
_CACHE_FORMAT = "dataclasses/1"  # what the cache pickles: a change of the classes gets new entries

Condition = dict[str, list[str]]
Priority = Literal["critical", "high", "medium"]
PRIORITY_WEIGHT: dict[str, int] = {"critical": 3, "high": 2, "medium": 1}


def _check_condition(value: Condition) -> Condition:
    for axis, values in value.items():
        if axis not in AXIS_BY_NAME:
            raise ValueError(f"unknown option {axis!r} (options: {', '.join(AXIS_BY_NAME)})")
        for v in values:
            if v not in AXIS_BY_NAME[axis].values:
                raise ValueError(f"{v!r} is not a value of {axis} ({', '.join(AXIS_BY_NAME[axis].values)})")
    return value


def matches(condition: Mapping[str, list[str]], options: Mapping[str, str]) -> bool:
    """True when every axis named in ``condition`` has one of its listed values."""
    return all(options.get(axis) in values for axis, values in condition.items())


# The checklist as msmvp uses it: plain frozen dataclasses, so a checklist loaded from the cache
# needs no pydantic. The pydantic schema that checks a checklist file is in :func:`_schemas`.


@dataclass(frozen=True, kw_only=True)
class _Conditional:
    when: Condition = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Generator(_Conditional):
    """What msmvp generates for an item, under a condition."""

    what: str


@dataclass(frozen=True, kw_only=True)
class PathCheck(_Conditional):
    """Files that must exist: a glob, with ``{service}`` / ``{package}`` expanded per service."""

    path: str


@dataclass(frozen=True, kw_only=True)
class ContentCheck(PathCheck):
    """A regular expression that must be found in every file the path matches."""

    contains: str


@dataclass(frozen=True, kw_only=True)
class CommandCheck(_Conditional):
    """A command run in the repo root that must exit 0 within ``timeout`` seconds."""

    run: str
    timeout: int = 300


@dataclass(frozen=True, kw_only=True)
class Evidence:
    present: list[PathCheck] = field(default_factory=list)
    configured: list[ContentCheck] = field(default_factory=list)
    verified: list[CommandCheck] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Item:
    """One checklist item."""

    id: str
    phase: int
    title: str
    priority: Priority
    effort_days: float
    description: str
    applies_when: Condition = field(default_factory=dict)
    human: bool = False
    generated_by: list[Generator] = field(default_factory=list)
    not_generated: str | None = None
    # Per option value: why nothing is generated (from the components), before not_generated.
    not_generated_by: list[Generator] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)

    def applies(self, options: Mapping[str, str]) -> bool:
        return matches(self.applies_when, options)

    def generator(self, options: Mapping[str, str]) -> str | None:
        """What generates this item for ``options``, or None."""
        return next((g.what for g in self.generated_by if matches(g.when, options)), None)

    def why_not_generated(self, options: Mapping[str, str]) -> str | None:
        """Why msmvp generates nothing for this item with ``options`` (a value's reason first)."""
        return next((g.what for g in self.not_generated_by if matches(g.when, options)), self.not_generated)


def _evidence(data: Mapping[str, Any]) -> Evidence:
    return Evidence(
        present=[PathCheck(**c) for c in data["present"]],
        configured=[ContentCheck(**c) for c in data["configured"]],
        verified=[CommandCheck(**c) for c in data["verified"]],
    )


def _item(data: Mapping[str, Any]) -> Item:
    """An item from the data of its validated schema model."""
    return Item(
        **{
            **data,
            "generated_by": [Generator(**g) for g in data["generated_by"]],
            "not_generated_by": [Generator(**g) for g in data["not_generated_by"]],
            "evidence": _evidence(data["evidence"]),
        }
    )


@cache
def _schemas() -> dict[str, Any]:
    """The pydantic schema of an item and of a component's evidence: what a checklist file is
    checked by when it is not in the cache (imported only then)."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class Model(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    class ConditionalSchema(Model):
        when: Condition = Field(default_factory=dict)

        _when = field_validator("when")(_check_condition)

    class GeneratorSchema(ConditionalSchema):
        what: str = Field(min_length=1)

    class PathCheckSchema(ConditionalSchema):
        path: str = Field(min_length=1)

    class ContentCheckSchema(PathCheckSchema):
        contains: str = Field(min_length=1)

        @field_validator("contains")
        @classmethod
        def _regex(cls, value: str) -> str:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            return value

    class CommandCheckSchema(ConditionalSchema):
        run: str = Field(min_length=1)
        timeout: int = Field(default=300, gt=0, le=3600)

    class EvidenceSchema(Model):
        present: list[PathCheckSchema] = Field(default_factory=list)
        configured: list[ContentCheckSchema] = Field(default_factory=list)
        verified: list[CommandCheckSchema] = Field(default_factory=list)

    class ItemSchema(Model):
        id: str = Field(pattern=r"^[1-9][0-9]*\.[1-9][0-9]*$")
        phase: int = Field(gt=0)
        title: str = Field(min_length=1)
        priority: Priority
        effort_days: float = Field(gt=0)
        description: str = Field(min_length=1)
        applies_when: Condition = Field(default_factory=dict)
        human: bool = False
        generated_by: list[GeneratorSchema] = Field(default_factory=list)
        not_generated: str | None = None
        not_generated_by: list[GeneratorSchema] = Field(default_factory=list)
        evidence: EvidenceSchema = Field(default_factory=EvidenceSchema)

        _applies = field_validator("applies_when")(_check_condition)

    class ComponentEvidenceSchema(Model):
        """What one option value contributes to one item (``component.yml`` → ``evidence``)."""

        generated_by: str | None = None
        not_generated: str | None = None
        present: list[PathCheckSchema] = Field(default_factory=list)
        configured: list[ContentCheckSchema] = Field(default_factory=list)
        verified: list[CommandCheckSchema] = Field(default_factory=list)

    return {"item": ItemSchema, "component_evidence": ComponentEvidenceSchema}


def _validated(kind: str, raw: Any) -> dict[str, Any] | tuple[tuple[int | str, ...], str]:
    """``raw`` checked by the schema of ``kind``: its data, or (location, message) of its first problem."""
    from pydantic import ValidationError

    try:
        data: dict[str, Any] = _schemas()[kind].model_validate(raw).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        return tuple(err["loc"]), err["msg"].removeprefix("Value error, ")
    return data


@dataclass(frozen=True)
class Checklist:
    """A loaded, validated checklist."""

    name: str
    source: str
    phases: dict[int, str]
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


# libyaml's parser when present: parsing the built-in checklist in pure Python costs ~0.15 s, half of
# the `msmvp status` budget; the C parser gives the same nodes and line marks.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc]
    """A safe loader that remembers the line of every mapping and of each of its keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=True)
        mapping[_LINE] = node.start_mark.line + 1
        mapping[_KEYLINES] = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
        return mapping


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in (_LINE, _KEYLINES)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _line_of(raw: dict[str, Any], loc: tuple[int | str, ...]) -> int:
    """The best line for a pydantic error location inside ``raw``."""
    line: int = raw.get(_LINE, 0)
    node: Any = raw
    for part in loc:
        if isinstance(node, dict):
            line = node.get(_KEYLINES, {}).get(part, line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
        if isinstance(node, dict):
            line = node.get(_LINE, line)
    return line


def builtin_path(name: str = BUILTIN) -> Path:
    """The path of a checklist shipped with msmvp."""
    return _resources.checklists_dir() / f"{name}.yaml"


def load(path: str | Path | None = None) -> Checklist:
    """Load and validate a checklist file (the built-in one when ``path`` is None)."""
    return _load_cached(str(path) if path is not None else str(builtin_path()))


def load_named(spec: str, project_dir: Path) -> Checklist:
    """The checklist a manifest names: ``builtin``, or a path (relative to the project)."""
    if spec == "builtin":
        return load()
    path = Path(spec)
    return load(path if path.is_absolute() else project_dir / path)


@cache
def _load_cached(path: str) -> Checklist:
    shown = path
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ChecklistError(f"{shown}: cannot read checklist: {exc.strerror}", hint="check the path") from None
    entry = _cache_entry(shown, text)
    if entry is not None and (hit := _from_cache(entry)) is not None:
        return hit
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise ChecklistError(f"{shown}:{line}: not valid YAML: {problem}", hint="fix the YAML syntax") from None
    built = _build(shown, raw)
    if entry is not None:
        _to_cache(entry, built)
    return built


def _cache_entry(path: str, text: str) -> Path | None:
    """Where the validated checklist is kept between runs, keyed by every input's bytes and
    msmvp's version (None when caching is off).

    Validating the items and merging every component's evidence costs more than the rest of a
    `msmvp status`; the pickle of the result loads in a few milliseconds.
    """
    from msmvp import __version__, components

    directory = _resources.cache_dir("checklists")
    if directory is None:
        return None
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{__version__}\0{path}\0{text}".encode())
    for spec in sorted(components.components_dir().glob("*/*/component.yml")):
        digest.update(spec.as_posix().encode() + b"\0" + spec.read_bytes())
    return directory / f"{digest.hexdigest()}.pickle"


def _from_cache(entry: Path) -> Checklist | None:
    loaded = _resources.cache_get(entry)
    return loaded if isinstance(loaded, Checklist) else None


def _to_cache(entry: Path, checklist: Checklist) -> None:
    _resources.cache_put(entry, pickle.dumps(checklist))


def _fail(path: str, line: int, problem: str, item_id: str | None = None) -> ChecklistError:
    where = f"item {item_id}: " if item_id else ""
    return ChecklistError(
        f"{path}:{line}: {where}{problem}", hint="see checklists/microservices-mvp.yaml for the format"
    )


def _build(path: str, raw: Any) -> Checklist:
    if not isinstance(raw, dict):
        raise _fail(path, 1, "a checklist is a mapping with keys schema, name, phases, items")
    top_keys = {"schema", "name", "phases", "items"}
    for key in raw.keys() - top_keys - {_LINE, _KEYLINES}:
        raise _fail(path, raw[_KEYLINES].get(key, 1), f"unknown key {key!r} (allowed: {', '.join(sorted(top_keys))})")
    if raw.get("schema") != SCHEMA:
        raise _fail(path, raw[_KEYLINES].get("schema", 1), f"schema must be {SCHEMA!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(path, raw[_KEYLINES].get("name", 1), "name must be a non-empty string")
    phases = _strip(raw.get("phases"))
    if (
        not isinstance(phases, dict)
        or not phases
        or not all(isinstance(k, int) and isinstance(v, str) for k, v in phases.items())
    ):
        raise _fail(path, raw[_KEYLINES].get("phases", 1), "phases must map phase numbers to titles")
    raw_items = raw.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise _fail(path, raw[_KEYLINES].get("items", 1), "items must be a non-empty list")
    items: list[Item] = []
    seen: dict[str, int] = {}
    for raw_item in raw_items:
        if not isinstance(raw_item, dict):
            raise _fail(path, raw[_KEYLINES]["items"], "each item must be a mapping")
        line = raw_item[_LINE]
        item_id = str(raw_item.get("id", "?"))
        checked = _validated("item", _strip(raw_item))
        if isinstance(checked, tuple):
            loc, msg = checked
            where = ".".join(str(p) for p in loc)
            raise _fail(path, _line_of(raw_item, loc), f"{where}: {msg}", item_id)
        item = _item(checked)
        if item.id in seen:
            raise _fail(path, line, f"duplicate id (first at line {seen[item.id]})", item.id)
        seen[item.id] = line
        if item.phase not in phases:
            raise _fail(path, line, f"phase {item.phase} is not one of the phases {sorted(phases)}", item.id)
        if int(item.id.split(".")[0]) != item.phase:
            raise _fail(path, line, f"id does not start with its phase {item.phase}", item.id)
        items.append(item)
    items = _merge_components(path, items, strict=path == str(builtin_path()))
    for item in items:
        line = seen[item.id]
        if item.applies(defaults()) and item.generator(defaults()) is None and not item.why_not_generated(defaults()):
            raise _fail(
                path,
                line,
                "nothing generates it for the default options: add generated_by or say why in not_generated",
                item.id,
            )
    return Checklist(name=name, source=path, phases=phases, items=tuple(items))


def _merge_components(path: str, items: list[Item], *, strict: bool) -> list[Item]:
    """Add each component's evidence to its items, under the condition that the value is chosen.

    ``strict`` (the built-in checklist): a component naming an item the checklist lacks is an
    error. A user's own checklist gets the evidence only for items that are the built-in ones
    (same id and title, e.g. a copy of the built-in checklist with items added or dropped).
    """
    from msmvp import components

    by_id = {item.id: item for item in items}
    if not strict:
        builtin = {item.id: item.title for item in load().items}
        by_id = {i: item for i, item in by_id.items() if builtin.get(i) == item.title}
    additions: dict[str, list[tuple[Condition, dict[str, Any]]]] = {}
    for axis, values in components.available().items():
        for value in values:
            spec_path = components.components_dir() / axis / value / components.COMPONENT_FILE
            raw = yaml.load(spec_path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
            evidence = (raw or {}).get("evidence") or {}
            if not isinstance(evidence, dict):
                raise _fail(str(spec_path), raw[_KEYLINES].get("evidence", 1), "evidence must map item ids to evidence")
            chosen: Condition = {axis: components.providers(axis, value)}
            for item_id, entry in evidence.items():
                if item_id in (_LINE, _KEYLINES):
                    continue
                line = evidence[_KEYLINES].get(item_id, 1)
                if str(item_id) not in by_id:
                    if strict:
                        raise _fail(str(spec_path), line, f"no item {item_id!r} in {path}", str(item_id))
                    continue
                checked = _validated("component_evidence", _strip(entry))
                if isinstance(checked, tuple):
                    loc, msg = checked
                    where = ".".join(str(p) for p in loc)
                    line = _line_of(entry, loc) if isinstance(entry, dict) else line
                    raise _fail(str(spec_path), line, f"{where}: {msg}", str(item_id))
                additions.setdefault(str(item_id), []).append((chosen, checked))
    merged = []
    for item in items:
        extra = additions.get(item.id)
        if not extra:
            merged.append(item)
            continue
        generated = [Generator(when=c, what=e["generated_by"]) for c, e in extra if e["generated_by"]]
        missing = [Generator(when=c, what=e["not_generated"]) for c, e in extra if e["not_generated"]]
        scoped = [(c, _evidence(e)) for c, e in extra]
        evidence = Evidence(
            present=item.evidence.present + [replace(x, when={**x.when, **c}) for c, e in scoped for x in e.present],
            configured=item.evidence.configured
            + [replace(x, when={**x.when, **c}) for c, e in scoped for x in e.configured],
            verified=item.evidence.verified + [replace(x, when={**x.when, **c}) for c, e in scoped for x in e.verified],
        )
        merged.append(
            replace(
                item,
                generated_by=generated + item.generated_by,
                not_generated_by=missing + item.not_generated_by,
                evidence=evidence,
            )
        )
    return merged


def item_lines(path: str | Path) -> dict[str, int]:
    """The line of each item id in a checklist file (for messages about a loaded checklist)."""
    raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
    return {str(i.get("id")): i[_LINE] for i in raw.get("items", []) if isinstance(i, dict)}
