"""The team's domain: each service's resources and their fields, as ``msmvp.yaml`` declares them.

A service that declares no resources has one, the default ``item`` (``name``, ``description``
and an id of each callee's first resource), served at ``/api/v1/<service>``. A declared
resource is served at ``/api/v1/<service>`` when its plural is the service's name (``orders``
owns ``order``), else at ``/api/v1/<service>/<plural>``.

In ``msmvp.yaml`` a resource is::

    resources:
      - name: order
        fields:
          total: {type: decimal, precision: 12, scale: 2, required: true}
          status: enum(new,paid,shipped)
          user_id: {ref: users.user, required: true}

A field is a mapping, or the short form the command line takes after ``NAME:``
(``TYPE[(ARGS)][:required][:unique][:indexed][:default=VALUE]``, see :func:`parse_field`).
Everything here is plain data and checks; the templates get it through :func:`contexts`.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import keyword
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

from msmvp import openapi
from msmvp.errors import DomainError

# The option values declared resources are built for (every value today): a value added to an
# axis later is refused with declared resources until its templates follow them.
BUILT_WITH: dict[str, tuple[str, ...]] = {
    "protocol": ("rest", "grpc"),
    "messaging": ("none", "nats", "rabbitmq", "kafka"),
    "data": ("db-per-service", "shared-db", "eventual"),
}
TYPES = (
    "string",
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "uuid",
    "email",
    "url",
    "enum",
    "json",
    "ref",
)
# A field's type in a gRPC message (every other type is a string: docs/protocol.md says why).
PROTO_TYPES = {"integer": "int64", "ref": "int64", "boolean": "bool"}
MAX_NAME = 40
# The width of dangling_references.field (messaging), which holds `<resource>.<field>`.
MAX_RECORDED_FIELD = 64
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
# Columns every resource has, and attribute names the generated models and schemas use.
RESERVED_FIELDS = frozenset(
    {"id", "created_at", "updated_at", "version", "metadata", "registry", "query", "self", "cls"}
    | {"model_config", "model_fields", "model_computed_fields", "limit", "offset", "sort"}
)
# Tables and classes every service already has (idempotency, events, outbox, read models).
RESERVED_RESOURCES = frozenset(
    {"idempotency_key", "event_inbox", "dangling_reference", "event_outbox", "read_model", "base", "problem"}
)
RESERVED_TABLES = frozenset(
    {"idempotency_keys", "event_inbox", "dangling_references", "event_outbox", "read_models", "alembic_version"}
)
# The fields the gRPC contract (protocol/grpc's proto template) puts next to a resource in its
# request and response messages: Get/Create/Update...Response carry `etag`, Create...Response
# `replayed`, Create...Request `idempotency_key`, Update...Request `id`, and List...Response
# `total` next to the plural. A resource (or plural) of that name would be a field twice. Refused
# whatever the protocol, so that a manifest stays valid when the protocol changes.
RESERVED_RPC_RESOURCES = frozenset({"etag", "id", "idempotency_key", "replayed"})
RESERVED_RPC_PLURALS = frozenset({"total"})
DEFAULT_STRING = 200
DEFAULT_TEXT = 10_000
EMAIL_LENGTH = 320
URL_LENGTH = 2048
MAX_STRING = 10_000
ENUM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Field:
    """One field of a resource (``type`` one of :data:`TYPES`)."""

    name: str
    type: str
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    max_length: int | None = None  # string, text, email, url
    precision: int | None = None  # decimal: digits in all
    scale: int | None = None  # decimal: digits after the point
    values: tuple[str, ...] = ()  # enum
    ref: str | None = None  # ref: "service.resource", or "resource" of the same service

    @property
    def length(self) -> int:
        """The bound a string-like field is stored and validated with."""
        if self.max_length is not None:
            return self.max_length
        return {"text": DEFAULT_TEXT, "email": EMAIL_LENGTH, "url": URL_LENGTH}.get(self.type, DEFAULT_STRING)

    @property
    def digits(self) -> tuple[int, int]:
        """A decimal's (precision, scale)."""
        return (self.precision or 12, 2 if self.scale is None else self.scale)


@dataclass(frozen=True)
class Resource:
    """A resource a service owns: a table, a schema and a set of routes."""

    name: str
    fields: tuple[Field, ...] = ()
    plural: str | None = None
    default: bool = False  # the placeholder of a service that declares none

    @property
    def plural_name(self) -> str:
        return self.plural or pluralize(self.name)


def pluralize(name: str) -> str:
    if re.search(r"[^aeiou]y$", name):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    return name + "s"


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# -- reading -----------------------------------------------------------------------------------

_SPEC = re.compile(r"^(?P<type>[a-z]+)(?:\((?P<args>[^()]*)\))?(?P<mods>(?::[^:]+)*)$")


def parse_field(text: str) -> Field:
    """``NAME:TYPE[(ARGS)][:required][:unique][:indexed][:default=VALUE]`` (the command line's form).

    ``string(80)``, ``decimal(12,2)``, ``enum(new,paid)``, ``ref(users.user)``.
    """
    name, sep, spec = text.partition(":")
    if not sep or not name.strip() or not spec.strip():
        raise DomainError(
            f"field {text!r} is not NAME:TYPE",
            hint="e.g. --field total:decimal(12,2):required or status:enum(new,paid)",
        )
    return parse_spec(name.strip(), spec.strip())


def parse_spec(name: str, spec: str) -> Field:
    """A field from the short form after ``NAME:``."""
    match = _SPEC.match(spec.replace(" ", ""))
    if match is None:
        raise DomainError(f"field {name!r}: cannot read {spec!r}", hint=_type_hint())
    data: dict[str, Any] = {"type": match["type"]}
    args = [a for a in (match["args"] or "").split(",") if a] if match["args"] is not None else None
    kind = match["type"]
    if args is not None:
        if kind == "enum":
            data["values"] = args
        elif kind == "ref":
            data["ref"] = ",".join(args)
        elif kind == "decimal":
            data["precision"] = args[0] if args else None
            data["scale"] = args[1] if len(args) > 1 else None
        elif kind in ("string", "text", "email", "url"):
            data["max_length"] = args[0] if args else None
        else:
            raise DomainError(f"field {name!r}: type {kind} takes no arguments ({spec!r})", hint=_type_hint())
    mods = [m for m in (match["mods"] or "").split(":") if m]
    for index, mod in enumerate(mods):
        key, eq, value = mod.partition("=")
        if key == "default" and eq:  # the last modifier: a default may hold ':' (a time of day)
            data["default"] = ":".join([value, *mods[index + 1 :]])
            break
        if key in ("required", "unique", "indexed") and not eq:
            data[key] = True
        elif key == "optional" and not eq:
            data["required"] = False
        elif key == "default" and eq:
            data["default"] = value
        else:
            raise DomainError(
                f"field {name!r}: unknown modifier {mod!r}", hint="modifiers: required, unique, indexed, default=VALUE"
            )
    return field_from_data(name, data)


def _type_hint() -> str:
    return f"types: {', '.join(TYPES)}; e.g. string(80), decimal(12,2), enum(new,paid), ref(users.user)"


_FIELD_KEYS = frozenset(
    {"type", "required", "unique", "indexed", "default", "max_length", "precision", "scale", "values", "ref"}
)


def field_from_data(name: str, data: Any) -> Field:
    """A field from its ``msmvp.yaml`` value (a mapping or the short form); checks it alone."""
    if isinstance(data, str):
        return parse_spec(name, data)
    if not isinstance(data, dict):
        raise DomainError(f"field {name!r}: expected a type or a mapping, got {type(data).__name__}", hint=_type_hint())
    unknown = sorted(set(data) - _FIELD_KEYS)
    if unknown:
        raise DomainError(f"field {name!r}: unknown key {unknown[0]!r}", hint=f"keys: {', '.join(sorted(_FIELD_KEYS))}")
    kind = data.get("type", "ref" if "ref" in data else None)
    if kind not in TYPES:
        raise DomainError(f"field {name!r}: unknown type {kind!r}", hint=_type_hint())
    flags = {}
    for key in ("required", "unique", "indexed"):
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise DomainError(f"field {name!r}: {key} must be true or false, not {value!r}")
        flags[key] = value
    built = Field(
        name=name,
        type=kind,
        **flags,
        max_length=_int(name, "max_length", data.get("max_length")),
        precision=_int(name, "precision", data.get("precision")),
        scale=_int(name, "scale", data.get("scale"), minimum=0),
        values=tuple(str(v) for v in data.get("values") or ()),
        ref=str(data["ref"]) if data.get("ref") is not None else None,
    )
    built = replace(built, default=_default(built, data.get("default")))
    _check_field(built)
    return built


def _int(name: str, key: str, value: Any, minimum: int = 1) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise DomainError(f"field {name!r}: {key} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise DomainError(f"field {name!r}: {key} must be at least {minimum}, not {number}")
    return number


def _default(f: Field, value: Any) -> Any:
    """``value`` as the JSON value a default of ``f`` is (checked against its type)."""
    if value is None:
        return None
    where = f"field {f.name!r}: default {value!r}"
    try:
        if f.type in ("integer", "ref"):
            if isinstance(value, bool):
                raise ValueError
            return int(str(value))
        if f.type == "decimal":
            return str(decimal.Decimal(str(value)))
        if f.type == "boolean":
            if isinstance(value, bool):
                return value
            return {"true": True, "false": False}[str(value).lower()]
        if f.type == "date":
            return _dt.date.fromisoformat(str(value)).isoformat()
        if f.type == "datetime":
            parsed = _dt.datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                raise ValueError
            return parsed.isoformat()
        if f.type == "uuid":
            return str(uuid.UUID(str(value)))
        if f.type == "json":
            return json.loads(value) if isinstance(value, str) else value
    except (ValueError, KeyError, decimal.InvalidOperation, json.JSONDecodeError):
        raise DomainError(f"{where} is not a valid {f.type}") from None
    if f.type == "enum" and str(value) not in f.values:
        raise DomainError(f"{where} is not one of its values", hint=f"values: {', '.join(f.values)}")
    return str(value)


def _check_field(f: Field) -> None:
    check_identifier(f.name, "field")
    if f.name in RESERVED_FIELDS:
        raise DomainError(
            f"field name {f.name!r} is reserved", hint=f"every resource has or uses {f.name!r}; rename it"
        )
    if f.type == "enum":
        if not f.values:
            raise DomainError(f"field {f.name!r}: an enum needs values", hint="e.g. status:enum(new,paid,shipped)")
        bad = [v for v in f.values if not ENUM_VALUE.match(v)]
        if bad:
            raise DomainError(
                f"field {f.name!r}: enum value {bad[0]!r} is not a plain word", hint="letters, digits, _ . -"
            )
        if len(set(f.values)) != len(f.values):
            raise DomainError(f"field {f.name!r}: an enum value is listed twice")
    elif f.values:
        raise DomainError(f"field {f.name!r}: only an enum has values")
    if f.type == "ref":
        if not f.ref or not re.fullmatch(r"([a-z][a-z0-9-]*\.)?[a-z][a-z0-9_]*", f.ref):
            raise DomainError(f"field {f.name!r}: ref must name SERVICE.RESOURCE or RESOURCE, not {f.ref!r}")
    elif f.ref:
        raise DomainError(f"field {f.name!r}: only a ref field has ref (type {f.type})")
    if f.max_length is not None and f.type not in ("string", "text", "email", "url"):
        raise DomainError(f"field {f.name!r}: max_length applies to strings, not {f.type}")
    if f.max_length is not None and f.max_length > MAX_STRING and f.type != "text":
        raise DomainError(f"field {f.name!r}: max_length {f.max_length} is over {MAX_STRING}", hint="use text")
    if (f.precision is not None or f.scale is not None) and f.type != "decimal":
        raise DomainError(f"field {f.name!r}: precision and scale apply to decimals, not {f.type}")
    if f.type == "decimal" and not (0 <= f.digits[1] < f.digits[0] <= 38):
        raise DomainError(f"field {f.name!r}: decimal({f.digits[0]},{f.digits[1]}) needs 0 <= scale < precision <= 38")
    if f.type in ("boolean", "enum") and f.unique:
        raise DomainError(f"field {f.name!r}: a {f.type} field cannot be unique", hint="it has too few values")
    if f.type in ("json", "text") and (f.unique or f.indexed):
        raise DomainError(f"field {f.name!r}: a {f.type} field cannot be unique or indexed", hint="use string(N)")


def check_identifier(name: str, kind: str) -> str:
    if not _IDENT.match(name) or len(name) > MAX_NAME:
        raise DomainError(
            f"{kind} name {name!r} is not a snake_case identifier", hint="1-40 lowercase letters, digits and _"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise DomainError(f"{kind} name {name!r} is a Python keyword", hint=f"try '{name}_'")
    return name


def resource_from_data(data: Any) -> Resource:
    """A resource from its ``msmvp.yaml`` entry; checks its own fields, not its references."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise DomainError("a resource is a mapping with a name and fields", hint="e.g. {name: order, fields: {...}}")
    unknown = sorted(set(data) - {"name", "plural", "fields"})
    if unknown:
        raise DomainError(f"resource {data['name']!r}: unknown key {unknown[0]!r}", hint="keys: name, plural, fields")
    name = check_identifier(data["name"], "resource")
    if name in RESERVED_RESOURCES:
        raise DomainError(f"resource name {name!r} is reserved", hint="every service already has one")
    if name in RESERVED_RPC_RESOURCES:
        raise DomainError(
            f"resource name {name!r} is reserved",
            hint=f"the gRPC contract's messages already have a field {name!r}; rename it",
        )
    plural = data.get("plural")
    if plural is not None:
        check_identifier(str(plural), "plural")
        if plural in RESERVED_RPC_PLURALS:
            raise DomainError(
                f"resource {name!r}: plural name {plural!r} is reserved",
                hint=f"the gRPC contract's list response already has a field {plural!r}; set another plural",
            )
    raw = data.get("fields") or {}
    if isinstance(raw, list):  # a list of single-key mappings reads as well
        pairs = [kv for entry in raw if isinstance(entry, dict) for kv in entry.items()]
        if len(pairs) != len(raw):
            raise DomainError(f"resource {name!r}: fields must map names to types")
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise DomainError(f"resource {name!r}: fields must map names to types")
    fields = []
    for key, value in pairs:
        try:
            fields.append(field_from_data(str(key), value))
        except DomainError as exc:
            raise DomainError(f"resource {name!r}: {exc.message}", hint=exc.hint, loc=("fields", str(key))) from None
    names = [f.name for f in fields]
    for dup in names:
        if names.count(dup) > 1:
            raise DomainError(f"resource {name!r}: field {dup!r} is listed twice")
    if not fields:
        raise DomainError(f"resource {name!r} has no fields", hint="give at least one, e.g. name: string(80)")
    table = str(plural) if plural is not None else pluralize(name)
    if table in RESERVED_TABLES:
        raise DomainError(f"resource {name!r}: its table {table!r} is reserved", hint="set another plural")
    return Resource(name, tuple(fields), str(plural) if plural is not None else None)


def field_to_data(f: Field) -> Any:
    """The value ``msmvp.yaml`` keeps for ``f``: the short form when it says everything."""
    data: dict[str, Any] = {} if f.type == "ref" else {"type": f.type}
    for key in ("ref", "required", "unique", "indexed", "max_length", "precision", "scale"):
        value = getattr(f, key)
        if value:
            data[key] = value
    if f.scale == 0:
        data["scale"] = 0
    if f.values:
        data["values"] = list(f.values)
    if f.default is not None:
        data["default"] = f.default
    return f.type if list(data) == ["type"] else data


def resource_to_data(r: Resource) -> dict[str, Any]:
    data: dict[str, Any] = {"name": r.name}
    if r.plural is not None:
        data["plural"] = r.plural
    data["fields"] = {f.name: field_to_data(f) for f in r.fields}
    return data


# -- the whole domain --------------------------------------------------------------------------


def default_resource(callees: list[tuple[str, str]]) -> Resource:
    """The placeholder a service that declares no resources has: ``callees`` are (service,
    resource) pairs, each referenced by an id named after the service."""
    refs = tuple(Field(f"{svc.replace('-', '_')}_id", "ref", required=True, ref=f"{svc}.{res}") for svc, res in callees)
    return Resource(
        "item",
        (
            Field("name", "string", required=True, indexed=True, max_length=200),
            Field("description", "text", max_length=2000),
            *refs,
        ),
        default=True,
    )


def resolve_all(services: list[tuple[str, list[str], list[Resource] | None]]) -> dict[str, list[Resource]]:
    """Each service's resources (``None``: the default one), given (name, calls, declared)."""
    declared = {name: res for name, _, res in services}
    out: dict[str, list[Resource]] = {}

    def first(name: str) -> str:
        res = declared.get(name)
        return res[0].name if res else "item"

    for name, calls, res in services:
        out[name] = list(res) if res else [default_resource([(c, first(c)) for c in calls])]
    return out


def check(services: list[tuple[str, list[str], list[Resource] | None]]) -> None:
    """Check references across the whole domain; raises :class:`DomainError` with a ``loc``
    naming the service, resource and field (the manifest turns it into FILE:LINE)."""
    resolved = resolve_all(services)
    calls = {name: c for name, c, _ in services}
    for index, (name, _, declared) in enumerate(services):
        messages = {f"{class_name(name.replace('-', '_'))}Service": f"the service {name!r}"}
        for r_index, res in enumerate(declared or []):
            where = ("services", index, "resources", r_index)
            others = [r.name for r in declared or []]
            if others.count(res.name) > 1:
                raise DomainError(
                    f"service {name!r}: resource {res.name!r} is listed twice", hint="rename or remove one", loc=where
                )
            plurals = [r.plural_name for r in declared or []]
            if plurals.count(res.plural_name) > 1:
                raise DomainError(
                    f"service {name!r}: two resources have the plural {res.plural_name!r}",
                    hint="give one of them another plural",
                    loc=where,
                )
            for message in rpc_messages(res):
                if message in messages:
                    raise DomainError(
                        f"service {name!r}: resource {res.name!r} would make a second {message} in the gRPC contract",
                        hint=f"{messages[message]} already does; rename one of them",
                        loc=where,
                    )
                messages[message] = f"resource {res.name!r}"
            for f in res.fields:
                if f.type != "ref":
                    continue
                loc = (*where, "fields", f.name)
                target_service, _, target = f.ref.rpartition(".") if f.ref else ("", "", "")
                target_service = target_service or name
                if target_service not in resolved:
                    raise DomainError(
                        f"{name}.{res.name}.{f.name} references service {target_service!r}, which does not exist",
                        hint=f"services are: {', '.join(resolved)}",
                        loc=loc,
                    )
                if target not in [r.name for r in resolved[target_service]]:
                    known = ", ".join(r.name for r in resolved[target_service])
                    raise DomainError(
                        f"{name}.{res.name}.{f.name} references {target_service}.{target}, which does not exist",
                        hint=f"{target_service} has: {known}",
                        loc=loc,
                    )
                if target_service != name and target_service not in calls[name]:
                    raise DomainError(
                        f"{name}.{res.name}.{f.name} references {target_service}, which {name} does not call",
                        hint=f"add {target_service} to the calls of {name} (`msmvp add-resource --ref` does)",
                        loc=loc,
                    )
                recorded = f"{res.name}.{f.name}"
                if target_service != name and len(recorded) > MAX_RECORDED_FIELD:
                    # With a broker, a deleted target is recorded in dangling_references.field.
                    raise DomainError(
                        f"{name}.{res.name}.{f.name}: {recorded!r} is {len(recorded)} characters, over the "
                        f"{MAX_RECORDED_FIELD} a deleted target's record holds",
                        hint="shorten the resource's or the field's name",
                        loc=loc,
                    )
    _check_cycles(services, resolved)
    for name, _, declared in services:
        if declared and primary_index(declared) is None:
            raise DomainError(
                f"service {name!r}: every resource requires another of the same service, in a cycle",
                hint="make one of those references optional, or none could ever be created",
            )


def rpc_messages(res: Resource) -> list[str]:
    """The names ``res`` gives messages of the gRPC contract (its service is ``<Module>Service``)."""
    one, many = class_name(res.name), class_name(res.plural_name)
    return [
        one,
        f"{one}Input",
        *(f"{verb}{one}{end}" for verb in ("Get", "Create", "Update", "Delete") for end in ("Request", "Response")),
        *(f"List{many}{end}" for end in ("Request", "Response")),
    ]


def primary_index(resources: list[Resource]) -> int | None:
    """The first resource that can be created alone (no required reference within its service):
    the one the generated tests, the gateway's checks and the load test use."""
    for index, r in enumerate(resources):
        if not any(f.type == "ref" and f.required and f.ref and "." not in f.ref for f in r.fields):
            return index
    return None


def _check_cycles(
    services: list[tuple[str, list[str], list[Resource] | None]], resolved: dict[str, list[Resource]]
) -> None:
    """A cycle of references across services would make a synchronous existence check go round."""
    edges = {
        name: sorted(
            {
                f.ref.rpartition(".")[0]
                for r in resolved[name]
                for f in r.fields
                if f.type == "ref" and f.ref and "." in f.ref and f.ref.rpartition(".")[0] != name
            }
        )
        for name, _, _ in services
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise DomainError(
                    f"references go round in a cycle: {' -> '.join(cycle)}",
                    hint="a synchronous existence check would recurse; drop one reference or keep an id without ref",
                )
            if state.get(nxt) is None:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in edges:
        if state.get(name) is None:
            visit(name, [name])


# -- what the templates see ----------------------------------------------------------------------

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_URL = r"^https?://[^\s/$.?#][^\s]*$"


def _py(v: Any) -> str:
    """A Python literal of a JSON value (strings double-quoted, as the formatter writes them)."""
    return json.dumps(v) if isinstance(v, str) else repr(v)


def field_context(f: Field, service: str, resolved: dict[str, list[Resource]]) -> dict[str, Any]:
    """What a template needs to write ``f`` in every layer (see docs/templates.md)."""
    nullable = not f.required
    ctx: dict[str, Any] = {
        "name": f.name,
        "type": f.type,
        "required": f.required,
        "unique": f.unique,
        "indexed": f.indexed or f.type == "ref",
        "nullable": nullable,
        "filterable": f.indexed or f.unique or f.type in ("ref", "enum", "boolean"),
        "sortable": f.type not in ("json", "text", "boolean"),
        "has_default": f.default is not None,
        "default": f.default,
        "default_py": _default_py(f),
        "max_length": f.length if f.type in ("string", "text", "email", "url") else None,
        "precision": f.digits[0] if f.type == "decimal" else None,
        "scale": f.digits[1] if f.type == "decimal" else None,
        "values": list(f.values),
    }
    sa, py, annotation, extra_imports = _types(f)
    ctx.update(sa_type=sa, py_type=py, annotation=annotation, imports=extra_imports, alembic_type=_alembic(sa))
    # An enum is a bounded string the database also checks (constraint "ck_<table>_<field>_values").
    ctx["check"] = f"{f.name} IN ({', '.join(repr(v) for v in f.values)})" if f.type == "enum" else None
    if f.type == "ref" and f.ref:
        target_service, _, target = f.ref.rpartition(".")
        target_service = target_service or service
        target_res = next(r for r in resolved[target_service] if r.name == target)
        ctx["ref"] = {
            "service": target_service,
            "module": target_service.replace("-", "_"),
            "resource": target,
            "local": target_service == service,
            "table": table_of(target_service, target_res),
            "path": path_of(target_service, target_res).removeprefix("/api/v1/"),
        }
    else:
        ctx["ref"] = None
    ctx["filter_type"] = {"enum": annotation, "ref": "int", "datetime": "datetime"}.get(f.type, py)
    ctx["proto_type"] = PROTO_TYPES.get(f.type, "string")
    ctx["example"] = _example(f, 1)
    ctx["example_other"] = _example(f, 2)
    ctx["invalid"] = _invalid(f)
    ctx["example_py"] = py_literal(ctx["example"])
    ctx["example_other_py"] = py_literal(ctx["example_other"])
    ctx["invalid_py"] = py_literal(ctx["invalid"])
    return ctx


def _invalid(f: Field) -> Any:
    """A JSON value the input schema refuses for ``f``."""
    if f.type in ("string", "text"):
        return "x" * (f.length + 1)
    return {
        "integer": "many",
        "decimal": "lots",
        "boolean": "maybe",
        "date": "not a date",
        "datetime": "2026-01-01T10:00:00",  # no offset: only aware times are taken
        "uuid": "not-a-uuid",
        "email": "not an email",
        "url": "ftp://example.com/",
        "enum": "none-of-them",
        "json": "not an object",
        "ref": 0,
    }[f.type]


def py_literal(value: Any) -> str:
    """``value`` (JSON data) as a Python literal the formatter leaves as it is."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _default_py(f: Field) -> str | None:
    if f.default is None:
        return None
    if f.type == "decimal":
        return f'Decimal("{f.default}")'
    if f.type == "date":
        return f'date.fromisoformat("{f.default}")'
    if f.type == "datetime":
        return f'datetime.fromisoformat("{f.default}")'
    if f.type == "uuid":
        return f'UUID("{f.default}")'
    return _py(f.default)


def _types(f: Field) -> tuple[str, str, str, list[str]]:
    """(SQLAlchemy column type, Python type of the value, pydantic input annotation, names used)."""
    length = f.length
    if f.type == "string":
        return (
            f"String({length})",
            "str",
            f'Annotated[str, Field(min_length=1, max_length={length}, pattern=r"{_PRINTABLE}")]',
            [],
        )
    if f.type == "text":
        return "Text", "str", f'Annotated[str, Field(max_length={length}, pattern=r"{_TEXT}")]', []
    if f.type == "email":
        return f"String({length})", "str", f'Annotated[str, Field(max_length={length}, pattern=r"{_EMAIL}")]', []
    if f.type == "url":
        return f"String({length})", "str", f'Annotated[str, Field(max_length={length}, pattern=r"{_URL}")]', []
    if f.type == "integer":
        return "BigInteger", "int", "Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]", []
    if f.type == "ref":
        return "Integer", "int", "EntityId", []
    if f.type == "decimal":
        p, s = f.digits
        return (
            f"Numeric({p}, {s})",
            "Decimal",
            f"Annotated[Decimal, Field(max_digits={p}, decimal_places={s})]",
            ["Decimal"],
        )
    if f.type == "boolean":
        return "Boolean", "bool", "bool", []
    if f.type == "date":
        return "Date", "date", "date", ["date"]
    if f.type == "datetime":
        return "UTCDateTime()", "datetime", "AwareDatetime", ["datetime"]
    if f.type == "uuid":
        return "Uuid", "UUID", "UUID", ["UUID"]
    if f.type == "enum":
        literal = ", ".join(f'"{v}"' for v in f.values)
        width = max(len(v) for v in f.values)
        return f"String({width})", "str", f"Literal[{literal}]", ["Literal"]
    # Any keys and values: the model strips the whitespace of strings, never inside a JSON object.
    return "JSON", "dict[str, Any]", "dict[Any, Any]", []


def _alembic(sa_type: str) -> str:
    """The column type as a migration writes it (``String(80)`` -> ``sa.String(length=80)``)."""
    if sa_type == "UTCDateTime()":
        return "sa.DateTime(timezone=True)"
    match = re.fullmatch(r"(\w+)\((\d+)(?:, (\d+))?\)", sa_type)
    if match is None:
        return f"sa.{sa_type}()"
    if match[1] == "Numeric":
        return f"sa.Numeric(precision={match[2]}, scale={match[3]})"
    return f"sa.{match[1]}(length={match[2]})"


def _example(f: Field, n: int) -> Any:
    """A valid JSON value for ``f`` (``n`` makes a second, different one)."""
    if f.type == "string":
        return f"{f.name} {n}"[: f.length]
    if f.type == "text":
        return f"Some {f.name}, number {n}."[: f.length]
    if f.type == "email":
        return f"person{n}@example.com"
    if f.type == "url":
        return f"https://example.com/{f.name}/{n}"
    if f.type == "integer":
        return 40 + n
    if f.type == "decimal":
        p, s = f.digits
        whole = min(10 + n, 10 ** (p - s) - 1)
        return f"{whole}.{'5' * s}" if s else str(whole)
    if f.type == "boolean":
        return n % 2 == 1
    if f.type == "date":
        return f"2026-01-0{n}"
    if f.type == "datetime":
        return f"2026-01-0{n}T10:00:00Z"
    if f.type == "uuid":
        return str(uuid.UUID(int=n))
    if f.type == "enum":
        return f.values[(n - 1) % len(f.values)]
    if f.type == "json":
        return {"n": n}
    return n  # ref: an id


def table_of(service: str, r: Resource) -> str:
    return service.replace("-", "_") if r.default else r.plural_name


def path_of(service: str, r: Resource) -> str:
    """The resource's collection URL (the gateway routes ``/api/v1/<service>`` to its service)."""
    if r.default or r.plural_name == service.replace("-", "_"):
        return f"/api/v1/{service}"
    return f"/api/v1/{service}/{r.plural_name.replace('_', '-')}"


def resource_context(service: str, r: Resource, resolved: dict[str, list[Resource]]) -> dict[str, Any]:
    fields = [field_context(f, service, resolved) for f in r.fields]
    example = {f["name"]: f["example"] for f in fields if f["required"] or f["type"] != "ref"}
    other = {f["name"]: f["example_other"] for f in fields if f["required"] or f["type"] != "ref"}
    ctx = {
        "name": r.name,
        "plural": "items" if r.default else r.plural_name,
        "class_name": class_name(r.name),
        "table": table_of(service, r),
        "path": path_of(service, r),
        "tag": service if r.default else r.plural_name,
        "default": r.default,
        "fields": fields,
        "refs": [f for f in fields if f["ref"]],
        "remote_refs": [f for f in fields if f["ref"] and not f["ref"]["local"]],
        "example": example,
        "example_other": other,
        # Three valid bodies whose unique fields differ (references: required ones only).
        "examples": [{f.name: _example(f, n) for f in r.fields if f.required or f.type != "ref"} for n in (1, 2, 3)],
        "example_py": py_literal(example),
        "example_other_py": py_literal(other),
        # The field a partial update (PATCH) changes in the tests: the first that is not a reference.
        "patch_field": next((f for f in fields if not f["ref"]), fields[0]),
    }
    if not r.default:
        # Its part of openapi.json (the default item's is written in the template).
        ctx["openapi"] = openapi.Fragments(ctx)
    return ctx


def proto_numbers(
    snapshots: list[list[dict[str, Any]]], now: dict[str, list[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """Per declared resource, the number of each field in its gRPC input message (its message
    adds 3: id, created_at and updated_at come first), from a service's domain history
    (``snapshots``, oldest first): a field gets the next number when it first appears, and keeps
    it; a removed field's number is ``reserved`` and never given again (a field added back under
    that name gets a new one). So a contract only ever appends.

    ``now``: the fields (by resource) of the domain rendered, when it is not the history's last
    snapshot: the numbers are those of the last snapshot that has exactly these fields (what was
    rendered then: the base of a three-way merge), or, for a domain the history has not reached,
    the history's followed by it."""
    shapes = [_field_names(resources) for resources in snapshots]
    if now is not None:
        at = max((i for i, shape in enumerate(shapes) if shape == now), default=None)
        shapes = shapes[: at + 1] if at is not None else [*shapes, now]
    numbers: dict[str, dict[str, int]] = {}
    reserved: dict[str, list[int]] = {}
    for shape in shapes:
        for resource, fields in shape.items():
            own, gone = numbers.setdefault(resource, {}), reserved.setdefault(resource, [])
            for name in [n for n in own if n not in fields]:
                gone.append(own.pop(name))
            for name in fields:
                if name not in own:
                    own[name] = max([*own.values(), *gone], default=0) + 1
    last = shapes[-1] if shapes else {}
    return {name: {"numbers": numbers[name], "reserved": sorted(reserved[name])} for name in numbers if name in last}


def _field_names(resources: list[dict[str, Any]]) -> dict[str, list[str]]:
    """A snapshot's declared resources (the placeholder left out) -> their fields' names, in order."""
    return {r["name"]: list(r.get("fields") or {}) for r in resources if not r.get("default")}


def event_name(service: str, r: Resource) -> str:
    """The resource's part of its event types (``<service>.<name>.<action>.v1``): its name, or for
    the placeholder the service's name in the singular (``users`` -> ``user``)."""
    if r.default:
        return service[:-1] if service.endswith("s") else service
    return r.name


def events_context(service: str, resolved: dict[str, list[Resource]]) -> dict[str, Any]:
    """What a broker's templates need of ``service``'s events (see docs/templates.md): the
    channels its resources publish on, and the resources of other services it references, whose
    events it consumes (in the services' order), with the fields of its own resources that hold them."""
    order = list(resolved)
    published = [
        {"resource": r.name, "class_name": class_name(r.name), "channel": f"{service}.{event_name(service, r)}"}
        for r in resolved[service]
    ]
    consumed: dict[tuple[str, str], dict[str, Any]] = {}
    for r in resolved[service]:
        for f in r.fields:
            target_service, _, target = (f.ref or "").rpartition(".")
            if f.type != "ref" or target_service in ("", service):
                continue
            res = next(x for x in resolved[target_service] if x.name == target)
            entry = consumed.setdefault(
                (target_service, target),
                {
                    "service": target_service,
                    "resource": target,
                    "channel": f"{target_service}.{event_name(target_service, res)}",
                    "path": path_of(target_service, res).removeprefix("/api/v1/"),
                    "default": res.default,
                    "references": [],
                },
            )
            entry["references"].append({"resource": r.name, "class_name": class_name(r.name), "field": f.name})
    ranked = sorted(consumed.items(), key=lambda item: order.index(item[0][0]))
    return {"published": published, "consumed": [entry for _, entry in ranked]}


def contexts(services: list[tuple[str, list[str], list[Resource] | None]]) -> dict[str, list[dict[str, Any]]]:
    """Each service's ``resources`` as the templates see them."""
    resolved = resolve_all(services)
    return {name: [resource_context(name, r, resolved) for r in resolved[name]] for name, _, _ in services}


def events_contexts(services: list[tuple[str, list[str], list[Resource] | None]]) -> dict[str, dict[str, Any]]:
    """Each service's ``events`` (:func:`events_context`)."""
    resolved = resolve_all(services)
    return {name: events_context(name, resolved) for name, _, _ in services}


def test_data(resources: list[dict[str, Any]]) -> str:
    """The generated ``tests/resources.json`` of a service declaring resources: what its generic
    tests need of each resource (bodies, refused values, unique, filter and sort fields, references)."""
    out = {}
    for r in resources:
        fields = r["fields"]
        out[r["name"]] = {
            "url": r["path"],
            "bodies": r["examples"],
            "patch": [r["patch_field"]["name"], r["patch_field"]["example_other"]],
            "invalid": {f["name"]: f["invalid"] for f in fields},
            "required": [f["name"] for f in fields if f["required"] and not f["has_default"]],
            "unique": [f["name"] for f in fields if f["unique"]],
            "filters": [f["name"] for f in fields if f["filterable"]],
            "sorts": [f["name"] for f in fields if f["sortable"]],
            "local": {f["name"]: f["ref"]["resource"] for f in fields if f["ref"] and f["ref"]["local"]},
            "remote": {f["name"]: f["ref"]["service"] for f in fields if f["ref"] and not f["ref"]["local"]},
            "fields": {
                f["name"]: {
                    k: f[k] for k in ("type", "required", "nullable", "max_length", "precision", "scale", "values")
                }
                for f in fields
            },
        }
    return json.dumps(out, indent=2) + "\n"


def primaries(services: list[tuple[str, list[str], list[Resource] | None]]) -> dict[str, int]:
    """Each service's primary resource (:func:`primary_index`), by index."""
    resolved = resolve_all(services)
    return {name: primary_index(resolved[name]) or 0 for name, _, _ in services}


def mermaid(
    services: list[tuple[str, list[str], list[Resource] | None]],
    service: str | None = None,
    resolved: dict[str, list[Resource]] | None = None,
) -> str:
    """A Mermaid entity-relationship diagram of one service (``service``: its resources with
    their fields, and the references they hold) or of the references across services (``None``:
    every resource, and each reference from one service to another). An entity is
    ``<service>_<resource>`` (a bare name may be a Mermaid keyword: ``end``, ``style``).
    ``resolved``: :func:`resolve_all` of ``services``, when known."""
    resolved = resolved if resolved is not None else resolve_all(services)
    lines = ["erDiagram"]
    names = [service] if service is not None else [n for n, _, _ in services]
    if service is None:  # every entity, so a resource without references is on the diagram too
        lines += [f"    {_entity(name, r.name)}" for name in names for r in resolved[name]]
    for name in names:
        for r in resolved[name]:
            entity = _entity(name, r.name)
            if service is not None:
                lines.append(f"    {entity} {{")
                lines.append("        int id PK")
                for f in r.fields:
                    key = " FK" if f.type == "ref" else (" UK" if f.unique else "")
                    kind = "int" if f.type == "ref" else f.type
                    attr = f"`{f.name}`" if f.name in ("pk", "fk", "uk") else f.name  # Mermaid's key words
                    lines.append(f'        {kind} {attr}{key} "{"required" if f.required else "optional"}"')
                lines.append("    }")
            for f in r.fields:
                if f.type != "ref" or not f.ref:
                    continue
                target_service, _, target = f.ref.rpartition(".")
                target_service = target_service or name
                if service is None and target_service == name:
                    continue
                label = f.name if service is None or target_service == name else f"{f.name} (via API)"
                card = "||--o{" if f.required else "|o--o{"
                lines.append(f'    {_entity(target_service, target)} {card} {entity} : "{label}"')
    return "\n".join(lines) + "\n"


def diagrams(services: list[tuple[str, list[str], list[Resource] | None]]) -> tuple[dict[str, str], str]:
    """Each service's diagram (by name) and the diagram of the references across services."""
    resolved = resolve_all(services)
    own = {name: mermaid(services, name, resolved) for name, _, _ in services}
    return own, mermaid(services, None, resolved)


def _entity(service: str, resource: str) -> str:
    return f"{service.replace('-', '_')}_{resource}"
