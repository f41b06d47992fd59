"""``msmvp.yaml``: the project's options and services, the single source of truth."""

from __future__ import annotations

import copy
import io
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from msmvp import __version__, domain
from msmvp.errors import AnswersFileError, DomainError, InvalidNameError, ManifestError, MsmvpError
from msmvp.names import check_name, module_name
from msmvp.options import resolve

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

MANIFEST = "msmvp.yaml"
# libyaml when PyYAML has it: the same safe loading, several times faster on a long service list.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FIRST_PORT = 8001
_HEADER = (
    "# msmvp.yaml: this project's options and services, the single source of truth.\n"
    "# Change services with `msmvp add-service` / `msmvp remove-service`; after editing by hand,\n"
    "# run `msmvp upgrade` to re-render.\n"
)


@dataclass
class Service:
    """A service, the services it calls synchronously and the resources it declares (``None``:
    the default one, see :mod:`msmvp.domain`)."""

    name: str
    calls: list[str] = field(default_factory=list)
    resources: list[domain.Resource] | None = None


@dataclass
class Manifest:
    """The contents of ``msmvp.yaml`` (and of an answers file).

    A plain dataclass: reading a well-formed file (every run of every command) needs no pydantic.
    :meth:`model_validate` checks the data by hand and only hands it to the pydantic schema
    (:func:`_schema`) when it is not plainly well-formed, so the errors, and any value pydantic
    would coerce, are pydantic's own.
    """

    msmvp_version: str = __version__
    name: str = "shop"
    checklist: str = "builtin"
    options: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    @classmethod
    def model_validate(cls, data: Any) -> Manifest:
        """A manifest from parsed YAML; raises pydantic's ``ValidationError`` when it is not one."""
        plain = _plain(data)
        if plain is not None:
            return plain
        model: Any = _schema().model_validate(data)
        services = [
            Service(s.name, list(s.calls), _resources(index, s.resources)) for index, s in enumerate(model.services)
        ]
        return cls(**{**model.model_dump(), "services": services})

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        """The manifest as plain data (``mode`` as pydantic's: the data is plain either way)."""
        data = asdict(self)
        data["services"] = [_service_data(s) for s in self.services]
        return data

    def domain_input(self) -> list[tuple[str, list[str], list[domain.Resource] | None]]:
        """The services as :mod:`msmvp.domain` takes them."""
        return [(s.name, list(s.calls), s.resources) for s in self.services]

    def check_domain(self) -> None:
        """Raise :class:`DomainError` (with its ``loc``) when a reference cannot be built, or
        when resources are declared with an option value they are not built for."""
        domain.check(self.domain_input())
        declared = next((i for i, s in enumerate(self.services) if s.resources is not None), None)
        if declared is None:
            return
        chosen = resolve(self.options)
        unbuilt = [f"{axis}={chosen[axis]}" for axis, built in domain.BUILT_WITH.items() if chosen[axis] not in built]
        if unbuilt:
            raise DomainError(
                f"declared resources are not built yet with {', '.join(unbuilt)}",
                hint="they are built with "
                + ", ".join(f"{axis}={'|'.join(values)}" for axis, values in domain.BUILT_WITH.items()),
                loc=("services", declared, "resources"),
            )

    def model_copy(self, deep: bool = False) -> Manifest:
        return copy.deepcopy(self) if deep else copy.copy(self)

    def service_contexts(self) -> list[dict[str, Any]]:
        """The ``services`` list every template sees (see docs/templates.md)."""
        out = []
        inputs = self.domain_input()
        resources = domain.contexts(inputs)
        primaries = domain.primaries(inputs)
        events = domain.events_contexts(inputs)
        diagrams, _ = domain.diagrams(inputs)
        for index, svc in enumerate(self.services):
            module = module_name(svc.name)
            out.append(
                {
                    "name": svc.name,
                    "module": module,
                    "package": f"{module}_service",
                    "env_prefix": module.upper(),
                    "port": FIRST_PORT + index,
                    "calls": list(svc.calls),
                    "called_by": [s.name for s in self.services if svc.name in s.calls],
                    "resources": resources[svc.name],
                    "primary": resources[svc.name][primaries[svc.name]],
                    "test_data": domain.test_data(resources[svc.name]) if svc.resources else "",
                    "diagram": diagrams[svc.name],  # Mermaid erDiagram of its resources
                    "events": events[svc.name],  # the channels it publishes on and consumes
                }
            )
        return out

    def _data(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["services"] = [_service_data(s, compact=True) for s in self.services]
        return data

    def to_yaml(self) -> str:
        # The options one a line: a flow mapping wider than a line is wrapped, and the rewrite
        # over the user's text (ruamel, to_yaml_over) would wrap it elsewhere, a diff of nothing.
        data = self._data()
        services = {"services": data.pop("services")}
        head = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        return _HEADER + head + yaml.safe_dump(services, sort_keys=False, default_flow_style=None)

    def to_yaml_over(self, previous: str) -> str:
        """This manifest written over the text of ``previous`` (the file as the user keeps it):
        comments, key order, quoting and indentation are kept; only what changed is rewritten."""
        if not previous.strip():
            return self.to_yaml()
        try:
            parsed = yaml.load(previous, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError:
            parsed = None
        if parsed == self._data():
            return previous  # nothing changed: not one byte moves (and ruamel is not needed)
        appended = self._appended(previous, parsed)
        if appended is not None:
            return appended  # services added at the end: written after the others, nothing else moves
        from ruamel.yaml import YAML
        from ruamel.yaml.comments import CommentedMap, CommentedSeq
        from ruamel.yaml.util import load_yaml_guess_indent

        reader = YAML()
        reader.preserve_quotes = True
        try:
            doc, indent, block_seq_indent = load_yaml_guess_indent(previous, yaml=reader)
        except Exception:  # unreadable as YAML: msmvp.yaml was validated, so this is only defensive
            return self.to_yaml()
        if not isinstance(doc, CommentedMap):
            return self.to_yaml()
        new = self._data()
        changed = False
        for key in ("msmvp_version", "name", "checklist"):
            if doc.get(key) != new[key]:
                doc[key] = new[key]
                changed = True
        options = doc.get("options")
        if not isinstance(options, CommentedMap):
            doc["options"] = new["options"]
            changed = True
        else:
            for key in [k for k in options if k not in new["options"]]:
                del options[key]
                changed = True
            for key, value in new["options"].items():
                if options.get(key) != value:
                    options[key] = value
                    changed = True
        services = doc.get("services")
        if not isinstance(services, CommentedSeq):
            services = CommentedSeq()
            doc["services"] = services
            changed = True
        wanted = {s["name"]: s for s in new["services"]}
        for index in reversed(range(len(services))):
            entry = services[index]
            if not isinstance(entry, CommentedMap) or entry.get("name") not in wanted:
                del services[index]
                changed = True
        present = {entry["name"]: entry for entry in services}
        for name, svc in wanted.items():
            entry = present.get(name)
            if entry is None:
                entry = CommentedMap(name=name)
                services.append(entry)
                changed = True
            calls = svc.get("calls", [])
            if list(entry.get("calls") or []) != calls:
                if calls:
                    seq = CommentedSeq(calls)
                    seq.fa.set_flow_style()
                    entry["calls"] = seq
                else:
                    entry.pop("calls", None)
                changed = True
            if entry.get("resources") != svc.get("resources"):
                if "resources" in svc:
                    entry.fa.set_block_style()  # `- {name: users}` would take the resources on one line
                    entry["resources"] = svc["resources"]
                else:
                    entry.pop("resources", None)
                changed = True
        if [e["name"] for e in services] != list(wanted):
            services.sort(key=lambda e: list(wanted).index(e["name"]))
            changed = True
        if not changed:
            return previous
        writer = reader
        writer.indent(mapping=indent or 2, sequence=indent or 2, offset=block_seq_indent or 0)
        writer.width = 4096
        out = io.StringIO()
        writer.dump(doc, out)
        return out.getvalue()

    def _appended(self, previous: str, parsed: Any) -> str | None:
        """``previous`` with the services this manifest adds at the end of the list written after
        it, when that is the whole change and the list is the file's last key, in block style;
        else None (ruamel's round trip, which costs more the more services there are)."""
        new = self._data()
        if type(parsed) is not dict or type(parsed.get("services")) is not list:
            return None
        old = parsed["services"]
        if {k: v for k, v in parsed.items() if k != "services"} != {k: v for k, v in new.items() if k != "services"}:
            return None
        if not old or len(new["services"]) <= len(old) or new["services"][: len(old)] != old:
            return None
        if any("resources" in svc for svc in new["services"][len(old) :]):
            return None
        lines = previous.splitlines()
        starts = [i for i, line in enumerate(lines) if re.fullmatch(r"services:[ \t]*(#.*)?", line)]
        if len(starts) != 1 or any(line[:1] not in ("", " ", "-", "#") for line in lines[starts[0] + 1 :]):
            return None
        entries = [line for line in lines[starts[0] + 1 :] if line.lstrip(" ").startswith("- ")]
        if not entries:
            return None
        pad = " " * (len(entries[0]) - len(entries[0].lstrip(" ")))
        text = previous if previous.endswith("\n") else previous + "\n"
        for svc in new["services"][len(old) :]:
            text += f"{pad}- name: {svc['name']}\n"
            if svc.get("calls"):
                text += f"{pad}  calls: [{', '.join(svc['calls'])}]\n"
        try:
            same = yaml.load(text, Loader=_SAFE_LOADER) == new  # noqa: S506 - a safe loader
        except yaml.YAMLError:
            same = False
        return text if same else None


_KEYS = frozenset({"msmvp_version", "name", "checklist", "options", "services"})


def _service_data(s: Service, compact: bool = False) -> dict[str, Any]:
    """A service as ``msmvp.yaml`` keeps it (``compact``: without empty calls)."""
    data: dict[str, Any] = {"name": s.name}
    if s.calls or not compact:
        data["calls"] = list(s.calls)
    if s.resources is not None:
        data["resources"] = [domain.resource_to_data(r) for r in s.resources]
    return data


def _resources(index: int, raw: Any) -> list[domain.Resource] | None:
    """The resources a service entry declares (``None``: none declared)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise DomainError("resources must be a non-empty list", loc=("services", index, "resources"))
    out = []
    for r_index, entry in enumerate(raw):
        try:
            out.append(domain.resource_from_data(entry))
        except DomainError as exc:
            raise DomainError(exc.message, exc.hint, ("services", index, "resources", r_index, *exc.loc)) from None
    return out


def _str_list(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _plain(data: Any) -> Manifest | None:
    """``data`` as a Manifest when it is plainly one (exact types, valid names, known callees),
    else None: then the pydantic schema decides, with its own messages."""
    if type(data) is not dict or not data.keys() <= _KEYS:
        return None
    if any(type(data[k]) is not str for k in ("msmvp_version", "name", "checklist") if k in data):
        return None
    options = data.get("options", {})
    if type(options) is not dict or not all(type(k) is str and type(v) is str for k, v in options.items()):
        return None
    services = []
    for index, entry in enumerate(data.get("services", []) if type(data.get("services", [])) is list else [None]):
        if type(entry) is not dict or not entry.keys() <= {"name", "calls", "resources"}:
            return None
        if type(entry.get("name")) is not str:
            return None
        calls = entry.get("calls", [])
        if not _str_list(calls):
            return None
        try:
            check_name(entry["name"])
        except InvalidNameError:
            return None
        services.append(Service(entry["name"], list(calls), _resources(index, entry.get("resources"))))
    names = [s.name for s in services]
    if len(set(names)) != len(names) or any(c not in names or c == s.name for s in services for c in s.calls):
        return None
    return Manifest(**{**data, "options": dict(options), "services": services})


@cache
def _schema() -> type[BaseModel]:
    """The pydantic schema of a manifest: what a file that is not plainly well-formed is checked by."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    class ServiceSchema(BaseModel):
        model_config = ConfigDict(extra="forbid")

        name: str
        calls: list[str] = Field(default_factory=list)
        resources: Any = None

        @field_validator("name")
        @classmethod
        def _name(cls, value: str) -> str:
            try:
                return check_name(value)
            except InvalidNameError as exc:
                raise ValueError(exc.message) from None

    class ManifestSchema(BaseModel):
        model_config = ConfigDict(extra="forbid")

        msmvp_version: str = __version__
        name: str = "shop"
        checklist: str = "builtin"
        options: dict[str, str] = Field(default_factory=dict)
        services: list[ServiceSchema] = Field(default_factory=list)

        @model_validator(mode="after")
        def _calls_known(self) -> ManifestSchema:
            names = [s.name for s in self.services]
            for dup in {n for n in names if names.count(n) > 1}:
                raise ValueError(f"service {dup!r} is listed twice")
            for svc in self.services:
                for callee in svc.calls:
                    if callee not in names:
                        raise ValueError(f"service {svc.name!r} calls {callee!r}, which is not a service")
                    if callee == svc.name:
                        raise ValueError(f"service {svc.name!r} calls itself")
            return self

    return ManifestSchema


def parse_services(text: str) -> list[Service]:
    """Parse ``users,orders:users,billing:orders+users``; without any ``:`` each calls the one before."""
    from msmvp.names import parse_service_list

    entries = [part.strip() for part in text.split(",")]
    names = parse_service_list(",".join(e.split(":", 1)[0] for e in entries))
    explicit = any(":" in e for e in entries)
    services = []
    for index, (name, entry) in enumerate(zip(names, entries, strict=True)):
        if explicit:
            calls = [c.strip() for c in entry.split(":", 1)[1].split("+")] if ":" in entry else []
        else:
            calls = [names[index - 1]] if index else []
        for callee in calls:
            if callee not in names or callee == name:
                what = "itself" if callee == name else f"{callee!r}, which is not a service"
                raise InvalidNameError(
                    f"service {name!r} calls {what}", hint=f"callees must be among: {', '.join(names)}"
                )
        services.append(Service(name=name, calls=calls))
    return services


def _error_text(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "top level"
    return where, err["msg"].removeprefix("Value error, ")


def from_data(data: Any, source: str, error: type[MsmvpError], path: Path | None = None) -> Manifest:
    """Validate a mapping read from ``source`` into a Manifest, raising ``error`` with a hint."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{source}: expected a mapping with keys name, options, services")
    try:
        manifest = Manifest.model_validate(data)
        resolve(manifest.options)
        manifest.check_domain()
    except DomainError as exc:
        raise error(f"{_where(source, path, exc.loc)}: {exc.message}", hint=exc.hint) from None
    except MsmvpError as exc:
        raise error(f"{source}: {exc.message}", hint=exc.hint) from None
    except Exception as exc:
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        where, msg = _error_text(exc)
        raise error(f"{source}: {where}: {msg}", hint="see msmvp.yaml of a generated project for the format") from None
    return manifest


def _where(source: str, path: Path | None, loc: tuple[str | int, ...]) -> str:
    """``source:LINE`` of the node ``loc`` names in the YAML file at ``path`` (just ``source``
    when there is no file, or the node is not there)."""
    if not loc or path is None:
        return source
    try:
        node: Any = yaml.compose(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError):
        return source
    line = None
    for key in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        elif isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(key)]
            if not match:
                break
            line = match[0][0].start_mark.line + 1
            node = match[0][1]
            continue
        else:
            break
        line = node.start_mark.line + 1
    return f"{source}:{line}" if line else source


def _read_yaml(path: Path, error: type[MsmvpError]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error(f"{path}:{mark.line + 1 if mark else 0}: not valid YAML", hint="fix the YAML syntax") from None


def load_answers(path: Path) -> Manifest:
    """Read an answers file (same keys as msmvp.yaml; every key optional)."""
    return from_data(_read_yaml(path, AnswersFileError), str(path), AnswersFileError, path)


def load(project_dir: Path) -> Manifest:
    """Read ``msmvp.yaml`` of a project."""
    path = project_dir / MANIFEST
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST} in {project_dir}")
    return from_data(_read_yaml(path, ManifestError), MANIFEST, ManifestError, path)
