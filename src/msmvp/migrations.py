"""Each service's domain history, and the Alembic revisions that follow it.

The history (``.msmvp/domain.json``, tracked, msmvp's own) holds, per service, the resources its
first revisions create (``0001``/``0002``: the *base*) and then one entry per change of its
resources: a revision id, a slug, the resources as that revision leaves them and whether it may
drop data. A revision is rendered from its own snapshot and the one before it, never from the
current manifest, so a file once written never changes. A project without the file has as base
the domain its files were last rendered from (the provenance's inputs).

Changes that would lose rows are refused before anything is written: a required field without a
default added to a table that may hold rows, a field or resource removed without ``allow_drop``,
a type narrowed. The placeholder ``item`` of a service that declared nothing is dropped when the
service declares its resources, but only if its table is empty (checked when the revision runs)
unless ``allow_drop``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import itertools
import json
import re
import textwrap
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msmvp import domain
from msmvp.errors import DomainError, ManifestError

if TYPE_CHECKING:
    from msmvp.manifest import Manifest

HISTORY = ".msmvp/domain.json"
FORMAT = "msmvp-domain/1"
BASE = "0001"
VERSIONS = "migrations/versions/"
# The per-revision template's path names this (see render.py).
REVISION = "{{ revision."
LINE = 120  # the generated project's ruff line length
_REV_FILE = re.compile(r"^(\d{4})_")
_TIMESTAMPS = (
    'sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)',
    'sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)',
)
_VERSION_COLUMN = 'sa.Column("version", sa.Integer(), server_default="1", nullable=False)'


# -- snapshots ----------------------------------------------------------------------------------


def snapshot(resources: Iterable[domain.Resource]) -> list[dict[str, Any]]:
    """Resources as the history keeps them (``msmvp.yaml``'s form; the placeholder marked)."""
    return [{**domain.resource_to_data(r), **({"default": True} if r.default else {})} for r in resources]


def from_snapshot(data: list[dict[str, Any]]) -> list[domain.Resource]:
    out = []
    for entry in data:
        plain = {k: v for k, v in entry.items() if k != "default"}
        out.append(replace(domain.resource_from_data(plain), default=bool(entry.get("default"))))
    return out


def resource_contexts(service: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A snapshot as the templates see ``service.resources``, in the order its tables are created
    (a table after the tables of the same service it references). The same list for the same
    snapshot: a render reads each several times, and nothing changes it."""
    return _resource_contexts(service, json.dumps(data))  # key order kept: it is the fields' order


@functools.lru_cache(maxsize=4096)
def _resource_contexts(service: str, key: str) -> list[dict[str, Any]]:
    resources = from_snapshot(json.loads(key))
    resolved: dict[str, list[domain.Resource]] = {service: resources}
    for r in resources:
        for f in r.fields:
            target_service, _, target = (f.ref or "").rpartition(".")
            if f.type == "ref" and target_service and target_service != service:
                known = resolved.setdefault(target_service, [])
                if target not in [k.name for k in known]:
                    known.append(domain.Resource(target))  # another service's: only its name is used
    contexts = [domain.resource_context(service, r, resolved) for r in resources]
    return _creation_order(contexts)


def _creation_order(contexts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_table = {c["table"]: c for c in contexts}
    done: list[str] = []

    def visit(table: str, path: tuple[str, ...]) -> None:
        if table in done or table in path:
            return
        for f in by_table[table]["refs"]:
            target = f["ref"]["table"]
            if f["ref"]["local"] and target in by_table and target != table:
                visit(target, (*path, table))
        done.append(table)

    for c in contexts:
        visit(c["table"], ())
    return [by_table[t] for t in done]


# -- the history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """Per service: the base entry, then one entry per revision (see the module's docstring)."""

    services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def initial(cls, manifest: Manifest) -> History:
        """The history of a new project: each service's base is its domain now."""
        resolved = domain.resolve_all(manifest.domain_input())
        return cls({s.name: [_base(resolved[s.name])] for s in manifest.services})

    @classmethod
    def load(cls, root: Path, fallback: Manifest | None = None) -> tuple[History, bool]:
        """The history of the project at ``root`` and whether it was read from its file; without
        the file, the one of ``fallback`` (the manifest its files were last rendered from)."""
        path = root / HISTORY
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return (cls.initial(fallback) if fallback is not None else cls()), False
        try:
            data = json.loads(text)
            services = data["services"]
            if data.get("format") != FORMAT or not isinstance(services, dict):
                raise ValueError
            for entries in services.values():
                if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
                    raise ValueError
        except (ValueError, KeyError, TypeError):
            raise ManifestError(
                f"{HISTORY} is not a domain history msmvp can read",
                hint="restore it from git (`git checkout -- .msmvp/domain.json`)",
            ) from None
        return cls({str(k): list(v) for k, v in services.items()}), True

    def has_revisions(self) -> bool:
        return any(len(entries) > 1 for entries in self.services.values())

    def dump(self) -> bytes:
        data = {"format": FORMAT, "services": self.services}
        return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()

    def covering(self, manifest: Manifest) -> History:
        """This history with a base for each service of ``manifest`` it lacks, and without the
        services ``manifest`` no longer has (what a render of ``manifest`` reads)."""
        resolved = domain.resolve_all(manifest.domain_input())
        return History({s.name: self.services.get(s.name) or [_base(resolved[s.name])] for s in manifest.services})

    def advance(self, manifest: Manifest, allow_drop: bool = False) -> History:
        """The history with a revision for each service whose resources differ from its last
        snapshot (and a merge revision where a component's revision came after the service's
        own). Raises :class:`DomainError` for a change that would lose rows."""
        resolved = domain.resolve_all(manifest.domain_input())
        out: dict[str, list[dict[str, Any]]] = {}
        for svc in manifest.services:
            name = svc.name
            entries = self.services.get(name)
            now = snapshot(resolved[name])
            if not entries:
                out[name] = [_base(resolved[name])]
                continue
            if len(entries) == 1 and _placeholder(entries[0]["resources"]) and _placeholder(now):
                # A service that never declared resources: its placeholder's reference columns
                # follow its calls in 0001, as before there was a history.
                out[name] = [_base(resolved[name])]
                continue
            entries = list(entries)
            head = _component_head(manifest.options)
            if len(entries) > 1 and head > max(_ancestors(entries)):
                entries.append(_merge(entries, head))
            ops = diff(name, entries[-1]["resources"], now, allow_drop)
            if ops:
                entries.append(
                    {
                        "revision": _next_id(entries),
                        "down": entries[-1]["revision"] if len(entries) > 1 else _rev(head),
                        "slug": _slug(ops),
                        "allow_drop": allow_drop,
                        "resources": now,
                    }
                )
            out[name] = entries
        return History(out)

    def contexts(self, service: str, now: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """``service.base_resources``, ``service.revisions`` and ``service.proto`` for the templates
        (``now``: the fields of the domain rendered, by resource; see :func:`domain.proto_numbers`)."""
        entries = self.services[service]
        revisions = []
        for before, entry in itertools.pairwise(entries):
            revisions.append(revision_context(service, before["resources"], entry))
        steps = [sample_step(service, entries[0]["resources"], "0002", 0)]
        steps += [
            sample_step(service, e["resources"], e["revision"], i)
            for i, e in enumerate(entries[1:], 1)
            if "merge" not in e
        ]
        return {
            "base_resources": resource_contexts(service, entries[0]["resources"]),
            "revisions": revisions,
            "migration_steps": steps,
            # What the generated test's rows need besides ``from datetime import UTC, datetime``.
            "migration_imports": sorted({imp for s in steps for imp in s["imports"]}),
            "migration_datetime": ["UTC", *sorted({"datetime"} | {n for s in steps for n in s["datetime"]})],
            # The gRPC contract's field numbers of each declared resource (they only append).
            "proto": domain.proto_numbers([e["resources"] for e in entries], now),
        }


def _placeholder(data: list[dict[str, Any]]) -> bool:
    return all(entry.get("default") for entry in data)


def _base(resources: list[domain.Resource]) -> dict[str, Any]:
    return {"revision": BASE, "resources": snapshot(resources)}


def _rev(number: int) -> str:
    return f"{number:04d}"


def _ancestors(entries: list[dict[str, Any]]) -> list[int]:
    """The component revisions the service's chain already follows."""
    out = [int(entries[1]["down"])]
    out += [int(e["merge"]) for e in entries if "merge" in e]
    return out


def _merge(entries: list[dict[str, Any]], head: int) -> dict[str, Any]:
    return {
        "revision": _next_id(entries),
        "down": [entries[-1]["revision"], _rev(head)],
        "merge": _rev(head),
        "slug": f"follow_{_rev(head)}",
        "allow_drop": False,
        "resources": entries[-1]["resources"],
    }


def _next_id(entries: list[dict[str, Any]]) -> str:
    used = [int(e["revision"]) for e in entries[1:]]
    return _rev(max([_first_domain_number() - 1, *used]) + 1)


def _revision_numbers(sources: Iterable[str]) -> list[int]:
    out = []
    for rel in sources:
        if rel.startswith(VERSIONS) and (match := _REV_FILE.match(rel[len(VERSIONS) :])):
            out.append(int(match[1]))
    return out


def _first_domain_number() -> int:
    """The first number no template's own revision uses: a domain revision never takes the id
    of a component's revision, even one of an option chosen later."""
    from msmvp import render

    return max(_revision_numbers(src.relpath for tpl, _ in render.all_templates() for src in tpl.sources)) + 1


def _component_head(options: Mapping[str, str]) -> int:
    """The last of the revisions the chosen templates bring (0002, or a component's)."""
    from msmvp import render

    sources = (
        src.relpath for root in render.template_roots(options, "service") for src in render._template(root).sources
    )
    return max(_revision_numbers(sources))


# -- what changed --------------------------------------------------------------------------------


def _spec(f: dict[str, Any]) -> tuple[Any, ...]:
    return (f["alembic_type"], f["nullable"], f["unique"], f["indexed"], f["check"], _fk(f))


def _fk(f: dict[str, Any]) -> str | None:
    ref = f["ref"]
    return str(ref["table"]) if ref and ref["local"] else None


def diff(
    service: str, before: list[dict[str, Any]], after: list[dict[str, Any]], allow_drop: bool
) -> list[dict[str, Any]]:
    """The schema operations from snapshot ``before`` to ``after`` (empty: the tables are the
    same). Raises :class:`DomainError` for a change that would lose rows."""
    old = {c["table"]: c for c in resource_contexts(service, before)}
    new = {c["table"]: c for c in resource_contexts(service, after)}
    ops: list[dict[str, Any]] = []
    # The placeholder goes first: a declared resource may take its table's name (users.user).
    for table, res in list(old.items()):
        if res["default"] and not (table in new and new[table]["default"]):
            ops.append({"op": "drop_table", "resource": res, "check_empty": not allow_drop})
            del old[table]
    for table, res in new.items():
        if table not in old:
            ops.append({"op": "create_table", "resource": res})
    for table, res in new.items():
        if table in old:
            changes = _table_changes(service, old[table], res, allow_drop)
            if changes:
                ops.append({"op": "alter_table", "table": table, "resource": res, "changes": changes})
    for table, res in reversed(list(old.items())):
        if table in new:
            continue
        if not allow_drop:
            raise DomainError(
                f"removing {service}.{res['name']} drops its table {table} and every row in it",
                hint="pass --allow-drop to drop it (the migration says so), or keep the resource",
            )
        ops.append({"op": "drop_table", "resource": res, "check_empty": False})
    return ops


def _table_changes(service: str, old: dict[str, Any], new: dict[str, Any], allow_drop: bool) -> list[dict[str, Any]]:
    before = {f["name"]: f for f in old["fields"]}
    after = {f["name"]: f for f in new["fields"]}
    where = f"{service}.{new['name']}"
    changes: list[dict[str, Any]] = []
    for name, f in after.items():
        if name in before:
            if _spec(before[name]) != _spec(f):
                changes.append(_alter(where, before[name], f))
            continue
        if f["required"] and not f["has_default"]:
            raise DomainError(
                f"{where}.{name} is required and has no default: the rows already in table {old['table']} would have none",
                hint=f"give it a default ({name}:TYPE:required:default=VALUE) or make it optional",
            )
        if f["required"] and f["unique"]:
            raise DomainError(
                f"{where}.{name} is required and unique: the rows already in table {old['table']} would all get"
                " its one default",
                hint="add it optional, fill in distinct values, then make it required",
            )
        changes.append({"kind": "add", "field": f})
    for name, f in before.items():
        if name not in after:
            if not allow_drop:
                raise DomainError(
                    f"removing {where}.{name} drops its column and the values in it",
                    hint="pass --allow-drop to drop it (the migration says so), or keep the field",
                )
            changes.append({"kind": "drop", "field": f})
    return changes


def _alter(where: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    name = new["name"]
    redo = f"to change it anyway, remove {where}.{name} and add it under a new name (--allow-drop)"
    if _fk(old) != _fk(new):
        raise DomainError(f"{where}.{name} would reference another table than its values do", hint=redo)
    if old["alembic_type"] != new["alembic_type"] and not _widens(old, new):
        raise DomainError(
            f"{where}.{name}: {old['alembic_type']} -> {new['alembic_type']} could not hold every value it holds now",
            hint=f"only widening is migrated (a longer string, more digits, string to text); {redo}",
        )
    if old["check"] != new["check"] and not set(old["values"]) <= set(new["values"]):
        raise DomainError(f"{where}.{name}: an enum value it may hold would be removed", hint=redo)
    if old["nullable"] and not new["nullable"] and not new["has_default"]:
        raise DomainError(
            f"{where}.{name} becomes required: the rows without a value would have none",
            hint=f"give it a default, which those rows get ({name}:...:required:default=VALUE)",
        )
    if old["nullable"] and not new["nullable"] and new["unique"]:
        raise DomainError(
            f"{where}.{name} becomes required and is unique: the rows without a value would all get its one default",
            hint="fill in distinct values first (a data migration of your own), then make it required",
        )
    return {"kind": "alter", "old": old, "field": new}


_SIZED = re.compile(r"^sa\.(String|Numeric)\((?:length=(\d+)|precision=(\d+), scale=(\d+))\)$")


def _widens(old: dict[str, Any], new: dict[str, Any]) -> bool:
    a, b = _SIZED.match(old["alembic_type"]), _SIZED.match(new["alembic_type"])
    if a and new["alembic_type"] == "sa.Text()":
        return a[1] == "String"
    if not a or not b or a[1] != b[1]:
        return bool(old["alembic_type"] == "sa.Integer()" and new["alembic_type"] == "sa.BigInteger()")
    if a[1] == "String":
        return int(b[2]) >= int(a[2])
    return int(b[4]) >= int(a[4]) and int(b[3]) - int(b[4]) >= int(a[3]) - int(a[4])


def _slug(ops: list[dict[str, Any]]) -> str:
    words = []
    for op in ops:
        res = op["resource"]["name"]
        if op["op"] == "create_table":
            words.append(f"add_{res}")
        elif op["op"] == "drop_table":
            words.append(f"remove_{res}")
        else:
            for c in op["changes"]:
                verb = {"add": "add", "drop": "drop", "alter": "change"}[c["kind"]]
                words.append(f"{verb}_{res}_{c['field']['name']}")
    slug = words[0] if len(words) == 1 else f"{words[0]}_and_{len(words) - 1}_more"
    return slug[:60].rstrip("_")


# -- the code of a revision ----------------------------------------------------------------------


def _q(text: str) -> str:
    return json.dumps(text)


def _call(indent: int, func: str, args: list[str]) -> list[str]:
    """``func(args)`` on one line when it fits, else one argument a line (ruff format's layout)."""
    pad = " " * indent
    one = f"{pad}{func}({', '.join(args)})"
    if len(one) <= LINE:
        return [one]
    return [f"{pad}{func}(", *(f"{pad}    {a}," for a in args), f"{pad})"]


def _column(f: dict[str, Any], nullable: bool | None = None) -> str:
    null = f["nullable"] if nullable is None else nullable
    return f"sa.Column({_q(f['name'])}, {f['alembic_type']}, nullable={null})"


def _names(table: str, f: dict[str, Any]) -> dict[str, str]:
    col = f["name"]
    return {
        "ix": f"ix_{table}_{col}",
        "uq": f"uq_{table}_{col}",
        "ck": f"ck_{table}_{col}_values",
        "fk": f"fk_{table}_{col}_{_fk(f)}",
    }


def _indexed(f: dict[str, Any]) -> bool:
    """Whether the models give ``f`` an index: a unique field has its unique constraint instead."""
    return bool(f["indexed"] and not f["unique"])


def create_table(res: dict[str, Any], indent: int = 4) -> list[str]:
    """``op.create_table`` of a resource (as the models declare it: id, fields, timestamps,
    version; foreign keys of its local references, unique fields, enum checks) and its indexes."""
    table = res["table"]
    args = [_q(table), 'sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)']
    args += [_column(f) for f in res["fields"]]
    args += [*_TIMESTAMPS, _VERSION_COLUMN, f'sa.PrimaryKeyConstraint("id", name=op.f({_q("pk_" + table)}))']
    for f in res["fields"]:
        n = _names(table, f)
        if _fk(f):
            args.append(f'sa.ForeignKeyConstraint([{_q(f["name"])}], ["{_fk(f)}.id"], name=op.f({_q(n["fk"])}))')
        if f["unique"]:
            args.append(f"sa.UniqueConstraint({_q(f['name'])}, name=op.f({_q(n['uq'])}))")
        if f["check"]:
            args.append(f"sa.CheckConstraint({_q(f['check'])}, name=op.f({_q(n['ck'])}))")
    args.append("sqlite_autoincrement=True")  # never reuse an id: other services hold them
    lines = _call(indent, "op.create_table", args)
    for f in res["fields"]:
        if _indexed(f):
            lines += _call(
                indent,
                "op.create_index",
                [f"op.f({_q(_names(table, f)['ix'])})", _q(table), f"[{_q(f['name'])}]", "unique=False"],
            )
    return lines


def drop_table(res: dict[str, Any], indent: int = 4) -> list[str]:
    table = res["table"]
    lines = []
    for f in reversed(res["fields"]):
        if _indexed(f):
            lines += _call(indent, "op.drop_index", [f"op.f({_q(_names(table, f)['ix'])})", f"table_name={_q(table)}"])
    return [*lines, f"{' ' * indent}op.drop_table({_q(table)})"]


def _constraints_up(table: str, f: dict[str, Any]) -> list[str]:
    """The batch operations that give an added column its foreign key, uniqueness, check, index."""
    n, col, pad = _names(table, f), _q(f["name"]), " " * 8
    out = []
    if _fk(f):
        out.append(f'{pad}batch.create_foreign_key(op.f({_q(n["fk"])}), "{_fk(f)}", [{col}], ["id"])')
    if f["unique"]:
        out.append(f"{pad}batch.create_unique_constraint(op.f({_q(n['uq'])}), [{col}])")
    if f["check"]:
        out.append(f"{pad}batch.create_check_constraint(op.f({_q(n['ck'])}), {_q(f['check'])})")
    if _indexed(f):
        out.append(f"{pad}batch.create_index(op.f({_q(n['ix'])}), [{col}], unique=False)")
    return out


def _constraints_down(table: str, f: dict[str, Any]) -> list[str]:
    n, pad = _names(table, f), " " * 8
    out = []
    if _indexed(f):
        out.append(f"{pad}batch.drop_index(op.f({_q(n['ix'])}))")
    if f["check"]:
        out.append(f'{pad}batch.drop_constraint(op.f({_q(n["ck"])}), type_="check")')
    if f["unique"]:
        out.append(f'{pad}batch.drop_constraint(op.f({_q(n["uq"])}), type_="unique")')
    if _fk(f):
        out.append(f'{pad}batch.drop_constraint(op.f({_q(n["fk"])}), type_="foreignkey")')
    return out


def _batch(table: str, body: list[str]) -> list[str]:
    # A table SQLite copies to alter keeps its AUTOINCREMENT (ids are never reused).
    kwargs = 'table_kwargs={"sqlite_autoincrement": True}'
    return [f"    with op.batch_alter_table({_q(table)}, {kwargs}) as batch:", *body] if body else []


def _fill(table: str, f: dict[str, Any]) -> list[str]:
    """Give the rows without a value of ``f`` its default (before the column becomes NOT NULL)."""
    col = _q(f["name"])
    return [
        f"    rows = sa.table({_q(table)}, sa.column({col}, {f['alembic_type']}))",
        f"    op.execute(rows.update().where(rows.c[{col}].is_(None)).values({{{col}: {literal(f['type'], f['default'])}}}))",
    ]


def _alter_table_up(op: dict[str, Any]) -> list[str]:
    table = op["table"]
    first: list[str] = []  # columns added (nullable), constraints dropped, types widened
    fills: list[str] = []  # rows given a default
    last: list[str] = []  # NOT NULL set, constraints made
    for c in op["changes"]:
        f = c["field"]
        if c["kind"] == "add":
            first.append(f"        batch.add_column({_column(f, nullable=True)})")
            if not f["nullable"]:
                fills += _fill(table, f)
                last.append(_alter_column(f, f["alembic_type"], True, False))
            last += _constraints_up(table, f)
        elif c["kind"] == "drop":
            first += _constraints_down(table, f)
            first.append(f"        batch.drop_column({_q(f['name'])})")
        else:
            first, fills, last = _alter_both(table, c["old"], f, (first, fills, last))
    return _batch(table, first) + fills + _batch(table, last)


def _alter_both(
    table: str, old: dict[str, Any], new: dict[str, Any], out: tuple[list[str], list[str], list[str]]
) -> tuple[list[str], list[str], list[str]]:
    """One field changed from ``old`` to ``new`` (widened, made optional or required with a default,
    indexed, unique, more enum values): its lines added to (first, fills, last)."""
    first, fills, last = out
    first = first + _changed_constraints(table, old, new, down=True)
    retype = old["alembic_type"] != new["alembic_type"]
    loosen = not old["nullable"] and new["nullable"]
    if retype or loosen:
        first.append(_alter_column(old, new["alembic_type"], old["nullable"], True if loosen else None))
    if old["nullable"] and not new["nullable"]:
        if new["has_default"]:
            fills = fills + _fill(table, new)
        last = [*last, _alter_column(old, new["alembic_type"], True, False)]
    last = last + _changed_constraints(table, old, new, down=False)
    return first, fills, last


def _alter_column(f: dict[str, Any], to_type: str, existing_nullable: bool, nullable: bool | None) -> str:
    """``batch.alter_column`` of ``f`` (its type now ``f['alembic_type']``) to ``to_type``."""
    args = [_q(f["name"]), f"existing_type={f['alembic_type']}"]
    if f["alembic_type"] != to_type:
        args.append(f"type_={to_type}")
    args.append(f"existing_nullable={existing_nullable}")
    if nullable is not None:
        args.append(f"nullable={nullable}")
    return "\n".join(_call(8, "batch.alter_column", args))


def _changed_constraints(table: str, old: dict[str, Any], new: dict[str, Any], down: bool) -> list[str]:
    """Drop (``down``) the constraints and index of ``old`` that ``new`` has otherwise, or make
    those of ``new``."""
    keys = ("indexed", "unique", "check")
    if all(old[k] == new[k] for k in keys):
        return []
    plain = {**(old if down else new), "ref": None}  # a reference does not change (refused)
    return _constraints_down(table, plain) if down else _constraints_up(table, plain)


def _alter_table_down(op: dict[str, Any]) -> list[str]:
    table = op["table"]
    first: list[str] = []
    fills: list[str] = []
    last: list[str] = []
    for c in reversed(op["changes"]):
        f = c["field"]
        if c["kind"] == "add":
            first += _constraints_down(table, f)
            first.append(f"        batch.drop_column({_q(f['name'])})")
        elif c["kind"] == "drop":
            # The values dropped do not come back: a required column comes back with its default,
            # or optional when it has none.
            first.append(f"        batch.add_column({_column(f, nullable=True)})")
            if not f["nullable"] and f["has_default"]:
                fills += _fill(table, f)
                last.append(_alter_column(f, f["alembic_type"], True, False))
            last += _constraints_up(table, f)
        else:
            first, fills, last = _alter_both(table, f, c["old"], (first, fills, last))
    return _batch(table, first) + fills + _batch(table, last)


def _check_empty(res: dict[str, Any]) -> list[str]:
    table = res["table"]
    message = (
        f"{table} holds {{rows}} rows of the placeholder resource {res['name']}, which this revision drops "
        "only when empty: move or delete them first, or regenerate with --allow-drop"
    )
    return [
        f"    rows = op.get_bind().scalar(sa.select(sa.func.count()).select_from(sa.table({_q(table)})))",
        "    if rows:",
        f"        raise RuntimeError(f{_q(message)})",
    ]


def revision_context(service: str, before: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    """What ``migrations/versions/{{ revision.file }}.py`` is rendered from: the operations from
    the snapshot before to the entry's own (never the current manifest)."""
    ops = [] if "merge" in entry else diff(service, before, entry["resources"], bool(entry.get("allow_drop")))
    up: list[str] = []
    down: list[str] = []
    checks: list[str] = []
    for op in ops:
        if op["op"] == "create_table":
            up += create_table(op["resource"])
            down = drop_table(op["resource"]) + down
        elif op["op"] == "drop_table":
            if op["check_empty"]:
                checks += _check_empty(op["resource"])
            up += drop_table(op["resource"])
            down = create_table(op["resource"]) + down
        else:
            up += _alter_table_up(op)
            down = _alter_table_down(op) + down
    rid = entry["revision"]
    down_rev = entry["down"]
    return {
        "id": rid,
        "down": down_rev,
        "down_py": _q(down_rev) if isinstance(down_rev, str) else f"({', '.join(_q(d) for d in down_rev)})",
        "file": f"{rid}_{entry['slug']}",
        "doc": "\n\n".join(textwrap.fill(p, 96) for p in [_title(ops, entry), *_notes(ops)]),
        "revises": down_rev if isinstance(down_rev, str) else ", ".join(down_rev),
        "allow_drop": bool(entry.get("allow_drop")),
        "upgrade": "\n".join(checks + up) or "    pass",
        "downgrade": "\n".join(down) or "    pass",
        "imports": _imports(up + down),
        "uses_sa": any("sa." in line for line in checks + up + down),
        "uses_op": any("op." in line for line in checks + up + down),
        "check_empty": [op["resource"]["table"] for op in ops if op["op"] == "drop_table" and op["check_empty"]],
    }


def _title(ops: list[dict[str, Any]], entry: dict[str, Any]) -> str:
    if "merge" in entry:
        return f"Follow revision {entry['merge']}, which a component brought after this service's own."
    parts = []
    for op in ops:
        res = op["resource"]
        if op["op"] == "create_table":
            parts.append(f"add resource {res['name']} (table {res['table']})")
        elif op["op"] == "drop_table":
            parts.append(f"remove resource {res['name']} (table {res['table']})")
        else:
            for c in op["changes"]:
                verb = {"add": "add", "drop": "drop", "alter": "change"}[c["kind"]]
                parts.append(f"{verb} {res['name']}.{c['field']['name']}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _notes(ops: list[dict[str, Any]]) -> list[str]:
    """What the revision does to data, said in its docstring."""
    out = []
    for op in ops:
        res = op["resource"]
        if op["op"] == "drop_table" and op["check_empty"]:
            out.append(f"The table {res['table']} is dropped only if it is empty: the upgrade stops otherwise.")
        elif op["op"] == "drop_table":
            out.append(f"Drops data (--allow-drop): the table {res['table']} and every row in it.")
        elif op["op"] == "alter_table":
            for c in op["changes"]:
                f = c["field"]
                if c["kind"] == "drop":
                    out.append(f"Drops data (--allow-drop): the column {op['table']}.{f['name']} and its values.")
                elif not f["nullable"] and (c["kind"] == "add" or c["old"]["nullable"]):
                    out.append(f"Rows without a value of {op['table']}.{f['name']} get its default, {f['default']!r}.")
    return out


def _imports(lines: list[str]) -> list[str]:
    text = "\n".join(lines)
    out = set()
    if "Decimal(" in text:
        out.add("from decimal import Decimal")
    if re.search(r"\bUUID\(", text):
        out.add("from uuid import UUID")
    dates = [n for n in ("date", "datetime") if re.search(rf"(?<![\w.]){n}\.fromisoformat", text)]
    if dates:
        out.add(f"from datetime import {', '.join(dates)}")
    return sorted(out)


# -- sample rows for the generated test ----------------------------------------------------------


def literal(kind: str, value: Any) -> str:
    """A Python expression (double-quoted, as ruff formats it) of a JSON value of a field of type ``kind``."""
    if value is None:
        return "None"
    if kind == "decimal":
        return f"Decimal({_q(str(value))})"
    if kind == "date":
        return f"date.fromisoformat({_q(str(value))})"
    if kind == "datetime":
        return f"datetime.fromisoformat({_q(str(value))})"
    if kind == "uuid":
        return f"UUID({_q(str(value))})"
    return domain.py_literal(value)


def _sample(f: dict[str, Any], n: int) -> Any:
    """The JSON value of ``f`` in the sample row of step ``n`` (each step's differs: unique fields)."""
    kind, name = f["type"], f["name"]
    if kind in ("string", "text"):
        # The step's number first: a short unique string still differs from step to step.
        return (f"{n} {name}" if kind == "string" else f"{n}: some {name}.")[: f["max_length"]]
    day = _dt.date(2026, 1, 1) + _dt.timedelta(days=n - 1)
    samples: dict[str, Any] = {
        "email": f"person{n}@example.com",
        "url": f"https://example.com/{name}/{n}",
        "integer": 40 + n,
        "boolean": n % 2 == 1,
        "date": day.isoformat(),
        "datetime": f"{day.isoformat()}T10:00:00+00:00",
        "uuid": str(uuid.UUID(int=n)),
        "json": {"n": n},
        "ref": n,
    }
    if kind == "decimal":
        p, s = f["precision"], f["scale"]
        whole = min(10 + n, 10 ** (p - s) - 1)
        return f"{whole}.{'5' * s}" if s else str(whole)
    if kind == "enum":
        return f["values"][(n - 1) % len(f["values"])]
    return samples[kind]


def sample_step(service: str, data: list[dict[str, Any]], revision: str, index: int) -> dict[str, Any]:
    """The tables as ``revision`` leaves them (typed columns) and one row for each, its id
    ``index * 100 + n`` and its local references pointing at this step's rows."""
    contexts = resource_contexts(service, data)
    ids = {c["table"]: index * 100 + n for n, c in enumerate(contexts, 1)}
    tables = []
    for c in contexts:
        columns = [("id", "sa.Integer()")] + [(f["name"], f["alembic_type"]) for f in c["fields"]]
        columns += [("created_at", "sa.DateTime(timezone=True)"), ("updated_at", "sa.DateTime(timezone=True)")]
        row = {"id": str(ids[c["table"]])}
        for f in c["fields"]:
            if f["ref"] and f["ref"]["local"]:
                row[f["name"]] = str(ids.get(f["ref"]["table"], ids[c["table"]]))
            else:
                row[f["name"]] = literal(f["type"], _sample(f, index + 1))
        tables.append(
            {
                "table": c["table"],
                "columns": [f"sa.column({_q(n)}, {t})" for n, t in columns],
                "row": [f"{_q(k)}: {v}" for k, v in row.items()],
            }
        )
    text = "\n".join(v for t in tables for v in t["row"] + t["columns"])
    imports = _imports([text])
    dates = [n.strip() for line in imports if line.startswith("from datetime") for n in line[21:].split(",")]
    return {
        "revision": revision,
        "tables": tables,
        "imports": [line for line in imports if not line.startswith("from datetime")],
        "datetime": dates,
    }
