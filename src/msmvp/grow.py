"""add-service, remove-service and upgrade: change a project's manifest and re-render it
through :mod:`msmvp.regen`, so no edit of the user's is lost."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from msmvp import __version__, _apply, evidence, gitops, migrations, pipeline, provenance, regen
from msmvp import options as options_mod
from msmvp.checklist import Checklist, load_named
from msmvp.errors import (
    DirtyTreeError,
    ManifestError,
    NothingToResolveError,
    ServiceExistsError,
    ServiceInUseError,
    UnknownOptionError,
    UnknownServiceError,
)
from msmvp.manifest import MANIFEST, Manifest, Service, load
from msmvp.names import check_name


def regenerate(
    root: Path,
    previous: Manifest,
    manifest: Manifest,
    *,
    message: str,
    dry_run: bool = False,
    allow_dirty: bool = False,
    commit: bool = True,
    allow_drop: bool = False,
) -> regen.Outcome:
    """Re-render ``root`` for ``manifest`` and apply it with the merge rules.

    ``previous`` is the manifest on disk now: the items it satisfied are not reported as new.
    With ``allow_dirty``, the commit holds only msmvp's changes: a user's uncommitted edit stays
    uncommitted (merged into the working tree where msmvp also changed the file).
    A service whose resources changed gets a migration (:mod:`msmvp.migrations`), recorded in the
    domain history written with the manifest; ``allow_drop`` lets it drop a field or resource.
    The domain commands pass ``allow_drop`` for a removal the user allowed with ``--allow-drop``.
    """
    git = gitops.is_repo(root)
    dirty: set[str] = set()
    if git and not dry_run:
        dirty = set(gitops.dirty_paths(root))
        if dirty and not allow_dirty:
            listed = sorted(dirty)
            more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
            raise DirtyTreeError(f"uncommitted changes in {', '.join(listed[:3])}{more}")
    checklist = load_named(manifest.checklist, root)
    old = provenance.load_full(root)
    history, stored = load_history(root, old, previous)
    # Before anything is rendered or written: a change that would lose rows is refused here.
    history = history.advance(manifest, allow_drop)
    generation = pipeline.regenerate(manifest, checklist, old, root, history)
    changes = regen.plan(root, generation.rendered, old, lambda m: pipeline.render_map(m, history), generation.reused)
    manifest_bytes = manifest.to_yaml_over(_read_text(root / MANIFEST)).encode()
    prov = generation.provenance(regen.kept_records(changes))
    # A project without the file (made before it existed) gets it with its first revision.
    history_bytes = history.dump() if stored or history.has_revisions() else None
    meta = [(MANIFEST, _read(root / MANIFEST), manifest_bytes)]
    if history_bytes is not None:
        meta.append((migrations.HISTORY, _read(root / migrations.HISTORY), history_bytes))
    changed_meta = [m for m in meta if m[1] != m[2]]
    meta_changed = bool(changed_meta) or _read(root / provenance.PROVENANCE) != prov
    plan = regen.Plan(changes, manifest_bytes, prov, meta_changed, changed_meta)
    outcome = regen.Outcome(plan, dry_run)
    if dry_run or plan.noop:
        return outcome
    executable = {f.path: f.executable for f in generation.files}
    writes = []
    for c in plan.effective:
        content = None if c.action == "delete" else c.after
        writes.append(_apply.Write(c.target, content, (executable[c.path] or None) if c.action == "create" else None))
    writes += [_apply.Write(MANIFEST, manifest_bytes), _apply.Write(provenance.PROVENANCE, prov)]
    if history_bytes is not None:
        writes.append(_apply.Write(migrations.HISTORY, history_bytes))
    # The tree after is the tree before with the writes made (both paths of a link that was followed).
    written: dict[str, bytes | None] = {w.path: w.content for w in writes}
    written.update({c.path: (None if c.action == "delete" else c.after) for c in plan.effective})
    on_disk = evidence.DirSource(root, keep_reads=True)
    progress = _Progress(checklist, previous, manifest, on_disk, written)
    spec = None
    if git and commit and not plan.conflicts:
        files, notes = _commit_files(root, plan, writes, dirty)
        outcome.notes += notes
        spec = _apply.CommitSpec(message, files, head=gitops.head(root)[0])
    applied = _apply.apply(root, writes, operation=_operation(message), commit=spec)
    outcome.commit = applied.commit
    outcome.interrupted = applied.interrupted
    outcome.newly_done = progress.newly_done(on_disk.after(written))
    if git and plan.conflicts:
        marked = [c for c in plan.conflicts if c.action == "conflict"]
        gitops.record_conflicts(
            root, [(c.target, c.base or b"", c.before or b"", c.theirs or b"") for c in marked if c.before is not None]
        )
    return outcome


def load_history(root: Path, old: provenance.Provenance | None, previous: Manifest) -> tuple[migrations.History, bool]:
    """The project's domain history and whether it has its file; without it, the history of the
    manifest its files were last rendered from (the provenance's inputs, else ``previous``)."""
    rendered_from = previous
    if old is not None and old.inputs:
        try:
            rendered_from = Manifest.model_validate(old.inputs)
        except Exception:  # inputs of another msmvp: the manifest on disk stands in
            rendered_from = previous
    return migrations.History.load(root, rendered_from)


def _operation(message: str) -> str:
    """``Add service x (msmvp add-service)`` → ``add-service``, for the journal."""
    return message.rsplit("(msmvp ", 1)[-1].rstrip(")") if "(msmvp " in message else "regeneration"


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _mode(root: Path, path: str, planned: bool | None) -> bool:
    disk = root / path
    if disk.is_file():
        return bool(disk.stat().st_mode & 0o100)
    return bool(planned)


def _commit_files(
    root: Path, plan: regen.Plan, writes: list[_apply.Write], dirty: set[str]
) -> tuple[dict[str, tuple[bytes | None, bool]], list[str]]:
    """What the commit holds: msmvp's change to each path, applied to what is committed.

    A path without uncommitted edits is committed as written. A path the user has uncommitted
    edits in gets msmvp's change merged into its committed version, so the edit stays out of
    the commit (and in the working tree).
    """
    files: dict[str, tuple[bytes | None, bool]] = {}
    notes: list[str] = []
    by_target = {c.target: c for c in plan.effective}
    touched = [w for w in writes if w.path in dirty and w.path in by_target]
    committed = gitops.head_files(root, [w.path for w in touched])
    for write in writes:
        x = _mode(root, write.path, write.executable)
        change = by_target.get(write.path)
        if change is None or write.path not in dirty:
            files[write.path] = (write.content, x)
            continue
        head = committed.get(write.path)
        if write.content is None or head is None:
            files[write.path] = (write.content, x)
            continue
        base = change.base if change.base is not None else change.before
        if base is None or change.theirs is None:
            notes.append(f"{write.path}: your uncommitted edit and msmvp's change are left uncommitted")
            continue
        content, conflicted = (change.theirs, False) if head == base else regen.merge3(head, base, change.theirs)
        if conflicted:
            notes.append(f"{write.path}: msmvp's change overlaps your uncommitted edit; both left uncommitted")
            continue
        files[write.path] = (content, x)
        change.note = "merged with your uncommitted edit, which stays uncommitted"
    return files, notes


def _evaluate(checklist: Checklist, manifest: Manifest, source: evidence.FileSource) -> list[evidence.ItemResult]:
    return evidence.evaluate_all(checklist, manifest.options, manifest.service_contexts(), source)


class _Progress:
    """The checklist items a regeneration newly scaffolds: read before its writes, told after.

    With the options unchanged, only the items whose evidence can change are evaluated
    (evidence.unsettled): the files a run leaves alone are not read again.
    """

    def __init__(
        self,
        checklist: Checklist,
        previous: Manifest,
        manifest: Manifest,
        before: evidence.DirSource,
        written: Mapping[str, bytes | None],
    ) -> None:
        self.checklist = checklist
        self.manifest = manifest
        self.before: set[str] = set()
        self.candidates: set[str] | None = None
        if previous.options == manifest.options:
            touched = sorted(set(written) | set(before.links()))
            self.candidates = evidence.unsettled(
                checklist,
                manifest.options,
                previous.service_contexts(),
                manifest.service_contexts(),
                before,
                touched,
            )
        else:
            self.before = {r.item.id for r in _evaluate(checklist, previous, before) if r.scaffolded}

    def newly_done(self, after: evidence.FileSource) -> list[str]:
        if self.candidates is None:
            return [
                r.item.id
                for r in _evaluate(self.checklist, self.manifest, after)
                if r.scaffolded and r.item.id not in self.before
            ]
        options, services = self.manifest.options, self.manifest.service_contexts()
        return [
            item.id
            for item in self.checklist.items
            if item.id in self.candidates and evidence.evaluate(item, options, services, after).scaffolded
        ]


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
    manifest.check_domain()
    manifest.msmvp_version = __version__
    changed = ", ".join(f"{k}={v}" for k, v in (settings or {}).items())
    message = f"Upgrade to msmvp {__version__}" + (f" with {changed}" if changed else "") + " (msmvp upgrade)"
    return regenerate(root, previous, manifest, message=message, **kw)


@dataclass(frozen=True)
class Resolved:
    """What ``msmvp resolve`` decided and wrote."""

    path: str
    choice: str  # "mine" | "theirs"
    target: str  # where the bytes are (a symlink's target)
    wrote: bool  # the file on disk changed
    staged: bool


def resolve(root: Path, path: str, choice: str) -> Resolved:
    """Settle a conflict: keep the user's file (``mine``) or take msmvp's (``theirs``), and
    record it in the provenance so later runs treat the path as settled."""
    if choice not in ("mine", "theirs"):
        raise ValueError(choice)
    manifest = load(root)
    rel = _project_path(root, path)
    old_prov = provenance.load_full(root)
    history = load_history(root, old_prov, manifest)[0]
    generation = pipeline.generate(manifest, load_named(manifest.checklist, root), history)
    theirs = generation.rendered.get(rel)
    record = generation.record(rel)
    old = provenance.load_full(root)
    if theirs is None or record is None:
        raise NothingToResolveError(f"{rel} is not a file msmvp generates for this project")
    if old is None:
        raise ManifestError(f"no readable {provenance.PROVENANCE}", hint="run `msmvp upgrade` first")
    target, _note = regen._where(root, rel)
    git = gitops.is_repo(root)
    content: bytes | None = None
    if choice == "theirs":
        content = theirs
        target = target or rel  # a link out of the project is replaced by the file: the user asked for it
    else:
        record = dataclasses.replace(record, decision="mine")
        yours = gitops.unmerged_stage(root, target, 2) if git and target else None
        if yours is not None:  # a run wrote conflict markers: put the user's side back
            content = yours
        if git:
            gitops.store_blobs(root, [theirs])  # the base of a later three-way merge
    files = dict(old.files)
    files[rel] = record
    # The folder's records are no longer its render alone: the next run renders it again.
    kept = {prefix: fp for prefix, fp in old.targets.items() if not rel.startswith(prefix)}
    prov = provenance.Provenance(old.msmvp_version, old.inputs, files, kept)
    writes = [_apply.Write(provenance.PROVENANCE, provenance.dump(prov))]
    disk = root / (target or rel)
    wrote = content is not None and (not disk.is_file() or disk.read_bytes() != content)
    if content is not None and target is not None:
        writes.insert(0, _apply.Write(target, content))
    _apply.apply(root, writes, operation=f"resolve {rel}")
    staged = False
    if git:
        gitops.stage_paths(root, [w.path for w in writes])
        staged = True
    return Resolved(rel, choice, target or rel, wrote, staged)


def _project_path(root: Path, path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.relative_to(root.resolve()).as_posix()
        except ValueError:
            raise NothingToResolveError(f"{path} is not inside the project {root}") from None
    full = (Path.cwd() / candidate) if not (root / candidate).exists() and (Path.cwd() / candidate).exists() else None
    if full is not None:
        try:
            return full.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return candidate.as_posix().removeprefix("./")
