"""add-resource, add-field, remove-field and remove-resource: change the domain a service declares
in ``msmvp.yaml`` and re-render the project through :func:`msmvp.grow.regenerate`.

Every input is checked, and the whole domain after the change (references, cycles), before
anything is written. A removal drops a table or a column, so it needs ``allow_drop``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from msmvp import domain, regen
from msmvp.errors import DomainError, DropRefusedError, UnknownResourceError, UnknownServiceError
from msmvp.grow import regenerate
from msmvp.manifest import MANIFEST, Manifest, Service, load

_FIELD_HINT = "e.g. total:decimal(12,2):required, status:enum(new,paid) or note:text"


def add_resource(
    root: Path,
    service: str,
    resource: str,
    fields: Sequence[str] = (),
    refs: Sequence[str] = (),
    plural: str | None = None,
    **kw: bool,
) -> regen.Outcome:
    """Declare ``resource`` in ``service``: ``fields`` in the short form (``NAME:TYPE...``),
    ``refs`` as ``SERVICE.RESOURCE`` or ``RESOURCE`` (a required ``<resource>_id`` each). On a
    service that still has the default placeholder, the new resource takes its place."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    svc = _service(manifest, service)
    domain.check_identifier(resource, "resource")
    declared = svc.resources or []
    if any(r.name == resource for r in declared):
        raise DomainError(
            f"service {service!r} already has a resource {resource!r}",
            hint=f"add fields to it with `msmvp add-field {service}.{resource} NAME:TYPE`",
        )
    parsed = [_parse(text) for text in fields]
    for ref in refs:
        parsed.append(_ref_field(manifest, service, ref))
    if not parsed:
        raise DomainError(
            f"resource {resource!r} needs at least one field", hint="e.g. --field name:string(80) or --ref users.user"
        )
    _no_duplicates([f.name for f in parsed], f"{service}.{resource}")
    data: dict[str, object] = {"name": resource}
    if plural is not None:
        data["plural"] = plural
    data["fields"] = {f.name: domain.field_to_data(f) for f in parsed}
    new = domain.resource_from_data(data)
    svc.resources = [*declared, new]
    notes = _add_calls(manifest, svc, parsed)
    _check(manifest)
    outcome = regenerate(
        root, previous, manifest, message=f"Add resource {service}.{resource} (msmvp add-resource)", **kw
    )
    outcome.notes[:0] = notes
    return outcome


def add_field(root: Path, target: str, specs: Sequence[str], **kw: bool) -> regen.Outcome:
    """Add fields (``NAME:TYPE...`` each) to the resource ``SERVICE.RESOURCE``."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    svc, index, resource = _resource(manifest, target)
    if not specs:
        raise DomainError(f"no field to add to {target}", hint=_FIELD_HINT)
    parsed = [_parse(text) for text in specs]
    _no_duplicates([f.name for f in parsed], target)
    for f in parsed:
        if any(old.name == f.name for old in resource.fields):
            raise DomainError(
                f"{svc.name}.{resource.name} already has a field {f.name!r}",
                hint=f"choose another name, or remove it first: `msmvp remove-field {svc.name}.{resource.name} "
                f"{f.name} --allow-drop`",
            )
    _replace(svc, index, resource, [*resource.fields, *parsed])
    notes = _add_calls(manifest, svc, parsed)
    _check(manifest)
    names = ", ".join(f.name for f in parsed)
    outcome = regenerate(root, previous, manifest, message=f"Add {names} to {target} (msmvp add-field)", **kw)
    outcome.notes[:0] = notes
    return outcome


def remove_field(root: Path, target: str, name: str, *, allow_drop: bool = False, **kw: bool) -> regen.Outcome:
    """Remove the field ``name`` of ``SERVICE.RESOURCE`` (its column and data: ``allow_drop``)."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    svc, index, resource = _resource(manifest, target)
    names = [f.name for f in resource.fields]
    if name not in names:
        raise UnknownResourceError(f"{target} has no field {name!r}", hint=f"its fields: {', '.join(names)}")
    if len(names) == 1:
        raise DomainError(
            f"{name!r} is the only field of {target}",
            hint=f"add another field first, or remove the resource: `msmvp remove-resource {svc.name} {resource.name}`",
        )
    _refuse_drop(allow_drop, f"removing {target}.{name} drops its column and the data in it")
    _replace(svc, index, resource, [f for f in resource.fields if f.name != name])
    _check(manifest)
    message = f"Remove {name} from {target} (msmvp remove-field)"
    return regenerate(root, previous, manifest, message=message, allow_drop=allow_drop, **kw)


def remove_resource(root: Path, service: str, resource: str, *, allow_drop: bool = False, **kw: bool) -> regen.Outcome:
    """Remove ``resource`` from ``service`` (its table and data: ``allow_drop``)."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    svc, _index, _res = _resource(manifest, f"{service}.{resource}")
    declared = svc.resources or []
    if len(declared) == 1:
        raise DomainError(
            f"{resource!r} is the only resource of {service}",
            hint=f"add another first (`msmvp add-resource {service} NAME ...`), or remove the service",
        )
    for other in manifest.services:
        for r in other.resources or []:
            for f in r.fields:
                target_service, _, target = (f.ref or "").rpartition(".")
                if f.type == "ref" and (target_service or other.name, target) == (service, resource):
                    raise DomainError(
                        f"{other.name}.{r.name}.{f.name} references {service}.{resource}",
                        hint=f"remove that field first: `msmvp remove-field {other.name}.{r.name} {f.name} --allow-drop`",
                    )
    _refuse_drop(allow_drop, f"removing {service}.{resource} drops its table and the data in it")
    svc.resources = [r for r in declared if r.name != resource]
    _check(manifest)
    message = f"Remove resource {service}.{resource} (msmvp remove-resource)"
    outcome = regenerate(root, previous, manifest, message=message, allow_drop=allow_drop, **kw)
    if declared[0].name == resource:  # a caller's placeholder item refers to a service's first resource
        first = svc.resources[0].name
        callers = [s.name for s in manifest.services if s.resources is None and service in s.calls]
        outcome.notes[:0] = [f"{c}.item now refers to {service}.{first}" for c in callers]
    return outcome


# -- the checks ---------------------------------------------------------------------------------


def _service(manifest: Manifest, name: str) -> Service:
    for svc in manifest.services:
        if svc.name == name:
            return svc
    names = ", ".join(s.name for s in manifest.services)
    raise UnknownServiceError(f"there is no service {name!r}", hint=f"services are: {names}")


def _resource(manifest: Manifest, target: str) -> tuple[Service, int, domain.Resource]:
    """The service, index and resource ``SERVICE.RESOURCE`` names (a declared one)."""
    service, dot, name = target.partition(".")
    if not dot or not service or not name or "." in name:
        raise DomainError(f"{target!r} is not SERVICE.RESOURCE", hint="e.g. orders.order")
    svc = _service(manifest, service)
    if svc.resources is None:
        raise UnknownResourceError(
            f"{service} declares no resources yet (it has the default placeholder item)",
            hint=f"declare its first one: `msmvp add-resource {service} NAME --field NAME:TYPE`",
        )
    for index, r in enumerate(svc.resources):
        if r.name == name:
            return svc, index, r
    known = ", ".join(r.name for r in svc.resources)
    raise UnknownResourceError(f"{service} has no resource {name!r}", hint=f"{service} has: {known}")


def _parse(text: str) -> domain.Field:
    try:
        return domain.parse_field(text)
    except DomainError as exc:
        raise DomainError(exc.message, hint=exc.hint or _FIELD_HINT) from None


def _ref_field(manifest: Manifest, service: str, ref: str) -> domain.Field:
    """``--ref users.user`` → the required field ``user_id`` referencing it."""
    target_service, _, target = ref.rpartition(".")
    if target_service and target_service != service:
        _service(manifest, target_service)
    try:
        domain.check_identifier(target, "resource")
    except DomainError:
        raise DomainError(f"--ref {ref!r} is not SERVICE.RESOURCE or RESOURCE", hint="e.g. --ref users.user") from None
    return _parse(f"{target}_id:ref({ref}):required")


def _no_duplicates(names: list[str], where: str) -> None:
    for name in names:
        if names.count(name) > 1:
            raise DomainError(
                f"field {name!r} of {where} is given twice",
                hint="give each field once (a second --ref to a resource of that name: --field OTHER_id:ref(S.R))",
            )


def _replace(svc: Service, index: int, resource: domain.Resource, fields: list[domain.Field]) -> None:
    """``resource`` with ``fields`` in its place, checked as msmvp.yaml's reader checks it."""
    data = domain.resource_to_data(resource)
    data["fields"] = {f.name: domain.field_to_data(f) for f in fields}
    declared = list(svc.resources or [])
    declared[index] = domain.resource_from_data(data)
    svc.resources = declared


def _add_calls(manifest: Manifest, svc: Service, fields: list[domain.Field]) -> list[str]:
    """Add each service a new ref field points to to the calls of ``svc``; what was added, said."""
    notes = []
    names = {s.name for s in manifest.services}
    for f in fields:
        callee = (f.ref or "").rpartition(".")[0]
        if f.type == "ref" and callee and callee != svc.name and callee in names and callee not in svc.calls:
            svc.calls.append(callee)
            notes.append(f"{svc.name} now calls {callee} (to check {f.name} on create)")
    return notes


def _check(manifest: Manifest) -> None:
    """The whole domain after the change: references resolve and go round no cycle."""
    try:
        manifest.check_domain()
    except DomainError as exc:
        raise DomainError(exc.message, hint=exc.hint or f"see {MANIFEST} for the resources") from None


def _refuse_drop(allow_drop: bool, what: str) -> None:
    if not allow_drop:
        raise DropRefusedError(f"{what}; refused", hint="pass --allow-drop to drop it (back up the data first)")
