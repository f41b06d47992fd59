"""add-service, remove-service and upgrade: change a project's manifest and re-render it
through :mod:`msmvp.regen`, so no edit of the user's is lost."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from msmvp import __version__, evidence, provenance, regen, render
from msmvp import options as options_mod
from msmvp.checklist import Checklist, load_named
from msmvp.errors import (
    DirtyTreeError,
    ServiceExistsError,
    ServiceInUseError,
    UnknownOptionError,
    UnknownServiceError,
)
from msmvp.manifest import MANIFEST, Manifest, Service, load
from msmvp.names import check_name


def _render_map(manifest: Manifest) -> dict[str, bytes]:
    return {f.path: f.content for f in render.render(manifest)}


def regenerate(
    root: Path,
    previous: Manifest,
    manifest: Manifest,
    *,
    message: str,
    dry_run: bool = False,
    allow_dirty: bool = False,
    commit: bool = True,
) -> regen.Outcome:
    """Re-render ``root`` for ``manifest`` and apply it with the merge rules.

    ``previous`` is the manifest on disk now: the items it satisfied are not reported as new.
    """
    git = regen.is_git_repo(root)
    if git and not allow_dirty and not dry_run:
        dirty = regen.dirty_paths(root)
        if dirty:
            more = f" and {len(dirty) - 3} more" if len(dirty) > 3 else ""
            raise DirtyTreeError(f"uncommitted changes in {', '.join(dirty[:3])}{more}")
    checklist = load_named(manifest.checklist, root)
    files = render.render(manifest)
    rendered = {f.path: f.content for f in files}
    new_results = evidence.evaluate_all(
        checklist, manifest.options, manifest.service_contexts(), evidence.MemorySource(rendered)
    )
    by_file = evidence.items_by_file(new_results)
    old = provenance.load_full(root)
    inputs = manifest.model_dump(mode="json")

    def provenance_bytes(unrecorded: set[str]) -> bytes:
        kept = [f for f in files if f.path not in unrecorded]
        return provenance.build(kept, by_file, __version__, inputs)

    plan = regen.plan(
        root,
        rendered,
        old,
        _render_map,
        manifest.to_yaml().encode(),
        provenance_bytes,
    )
    outcome = regen.Outcome(plan, dry_run)
    if dry_run or plan.noop:
        return outcome
    before = {r.item.id for r in _evaluate_disk(checklist, previous, root) if r.scaffolded}
    regen.apply(root, plan)
    after = _evaluate_disk(checklist, manifest, root)
    outcome.newly_done = [r.item.id for r in after if r.scaffolded and r.item.id not in before]
    if git:
        if plan.conflicts:
            regen.record_git_conflicts(root, plan.conflicts)
        elif commit:
            paths = [c.path for c in plan.effective] + [MANIFEST, provenance.PROVENANCE]
            outcome.commit = regen.commit(root, paths, message)
    return outcome


def _evaluate_disk(checklist: Checklist, manifest: Manifest, root: Path) -> list[evidence.ItemResult]:
    return evidence.evaluate_all(
        checklist,
        manifest.options,
        manifest.service_contexts(),
        evidence.DirSource(root),
    )


def add_service(root: Path, name: str, calls: list[str] | None = None, **kw: bool) -> regen.Outcome:
    """Add a service (and what it calls) to the project and re-render it."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    check_name(name)
    names = [s.name for s in manifest.services]
    if name in names:
        raise ServiceExistsError(f"service {name!r} already exists", hint="choose another name")
    for callee in calls or []:
        if callee not in names:
            raise UnknownServiceError(
                f"--calls names {callee!r}, which is not a service", hint=f"services are: {', '.join(names)}"
            )
    manifest.services.append(Service(name=name, calls=list(calls or [])))
    return regenerate(root, previous, manifest, message=f"Add service {name} (msmvp add-service)", **kw)


def remove_service(root: Path, name: str, **kw: bool) -> regen.Outcome:
    """Remove a service nobody calls; its edited files are kept and listed."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    names = [s.name for s in manifest.services]
    if name not in names:
        raise UnknownServiceError(f"there is no service {name!r}", hint=f"services are: {', '.join(names)}")
    callers = [s.name for s in manifest.services if name in s.calls]
    if callers:
        raise ServiceInUseError(
            f"service {name!r} is called by {', '.join(callers)}",
            hint=f"remove the call from {MANIFEST} and run `msmvp upgrade`, or remove {callers[0]} first",
        )
    if len(names) == 1:
        raise ServiceInUseError(f"{name!r} is the only service", hint="a project needs at least one service")
    manifest.services = [s for s in manifest.services if s.name != name]
    return regenerate(root, previous, manifest, message=f"Remove service {name} (msmvp remove-service)", **kw)


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """``["messaging=rabbitmq"]`` → ``{"messaging": "rabbitmq"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        axis, sep, value = pair.partition("=")
        if not sep or not axis or not value:
            raise UnknownOptionError(f"--set {pair!r} is not AXIS=VALUE", hint="e.g. --set messaging=rabbitmq")
        out[axis.strip()] = value.strip()
    return out


def upgrade(root: Path, settings: Mapping[str, str] | None = None, **kw: bool) -> regen.Outcome:
    """Re-render with this msmvp's templates and the (possibly changed) options."""
    previous = load(root)
    manifest = previous.model_copy(deep=True)
    manifest.options = options_mod.validate({**manifest.options, **(settings or {})})
    manifest.msmvp_version = __version__
    changed = ", ".join(f"{k}={v}" for k, v in (settings or {}).items())
    message = f"Upgrade to msmvp {__version__}" + (f" with {changed}" if changed else "") + " (msmvp upgrade)"
    return regenerate(root, previous, manifest, message=message, **kw)
