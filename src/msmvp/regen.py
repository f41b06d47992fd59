"""Re-render an existing project without losing an edit.

For every file: base = what msmvp generated last time, ours = the file now, theirs = the new
render. ours == base → write theirs; theirs == base → keep ours; otherwise a three-way merge
(``git merge-file``): a clean merge is written, a conflict is written with standard markers
and listed. A generated file the user deleted stays deleted; a user's own file at a path msmvp
now wants is never overwritten. A symlink is followed into the project and its target merged;
one leading out of the project is left alone and reported. Writing is :mod:`msmvp._apply`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from msmvp import __version__
from msmvp.manifest import Manifest
from msmvp.provenance import Provenance, Record, sha256

Action = Literal[
    "create",  # new generated file
    "update",  # untouched by the user: replaced by the new render
    "merge",  # edited by the user and changed by msmvp: merged cleanly
    "conflict",  # edited by both in the same place: written with conflict markers
    "blocked",  # a user's own file where msmvp now generates one: left alone, a conflict
    "delete",  # no longer generated and untouched: removed
    "kept",  # no longer generated but edited by the user: kept
    "skip-deleted",  # generated before, deleted by the user: stays deleted
    "keep",  # edited by the user, msmvp's side unchanged: kept as is
    "same",  # nothing to do
    "unchanged",  # msmvp's side unchanged and not rendered again: left as it is, not read
]
WRITES: frozenset[str] = frozenset({"create", "update", "merge", "conflict"})
CONFLICTS: frozenset[str] = frozenset({"conflict", "blocked"})
LABELS = ("yours", "last generated", "msmvp")


@dataclass
class Change:
    """What happens to one path."""

    path: str
    action: Action
    before: bytes | None = None
    after: bytes | None = None
    base: bytes | None = None
    theirs: bytes | None = None
    note: str = ""
    target: str = ""  # where the bytes go (a symlink's target); the path itself by default
    record: Record | None = None  # the path's provenance record from the last run

    def __post_init__(self) -> None:
        self.target = self.target or self.path


@dataclass
class Plan:
    """Every change of a regeneration, plus the new manifest and provenance contents."""

    changes: list[Change]
    manifest_bytes: bytes
    provenance_bytes: bytes
    meta_changed: bool = False
    # msmvp's own files a user reads (msmvp.yaml, the domain history) that change: (path, before, after).
    meta: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    @property
    def effective(self) -> list[Change]:
        return [c for c in self.changes if c.action in WRITES or c.action == "delete"]

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.action in CONFLICTS]

    @property
    def noop(self) -> bool:
        return not self.effective and not self.meta_changed and not self.conflicts


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def _to_crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def merge3(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes, bool]:
    """Three-way merge with ``git merge-file``; returns (result, has_conflicts).

    A file the user converted to CRLF is merged in CRLF, so the line endings alone never
    conflict. Binary files are never merged: ours is kept and the conflict reported.
    """
    if is_binary(ours) or is_binary(base) or is_binary(theirs):
        return ours, True
    if b"\r\n" in ours and b"\r\n" not in theirs:
        base, theirs = _to_crlf(base), _to_crlf(theirs)
    from msmvp.gitops import merge_file

    return merge_file(ours, base, theirs, LABELS)


class _Bases:
    """Finds the base of a file: re-rendered from the last inputs, or from git's object store."""

    def __init__(self, root: Path, old: Provenance | None, render: Callable[[Manifest], dict[str, bytes]]) -> None:
        self.root = root
        self.old = old
        self._render = render
        self._rendered: dict[str, bytes] | None = None

    def get(self, path: str) -> bytes | None:
        if self.old is None or path not in self.old.files:
            return None
        record = self.old.files[path]
        # A project msmvp commits to has its bases in git's object store: one short process
        # instead of rendering the whole project again (which grows with the services).
        in_git = bool(record.blob) and (self.root / ".git").exists()
        if in_git and (blob := self._blob(record)) is not None:
            return blob
        if self._rendered is None:
            self._rendered = {}
            if self.old.msmvp_version == __version__ and self.old.inputs:
                try:
                    self._rendered = self._render(Manifest.model_validate(self.old.inputs))
                except Exception:
                    self._rendered = {}
        data = self._rendered.get(path)
        if data is not None and sha256(data) == record.sha256:
            return data
        return self._blob(record) if record.blob and not in_git else None

    def _blob(self, record: Record) -> bytes | None:
        """The recorded version from git's object store, if it is there and still that version."""
        from msmvp.errors import GitError
        from msmvp.gitops import cat_blob

        try:
            blob = cat_blob(self.root, record.blob)
        except GitError:  # no git on this machine
            return None
        return blob if blob is not None and sha256(blob) == record.sha256 else None


class _Where:
    """Where the bytes of a path live: itself, the in-project target of a symlink on the way,
    or None (a symlink out of the project, or to nothing) with the reason."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._dirs: dict[str, str] = {}
        self._listed: dict[str, dict[str, bool | None] | None] = {}

    def _real_dir(self, rel: str) -> str:
        if rel not in self._dirs:
            self._dirs[rel] = os.path.realpath(os.path.join(self.root, rel))
        return self._dirs[rel]

    def plain(self, path: str) -> bool | None:
        """Whether ``path``, in a folder that is where it seems (no link on the way) and not a
        link itself, is a file (True) or absent (False); None when it takes :meth:`__call__`.
        One listing a folder, instead of two looks a file."""
        parent, _, name = path.rpartition("/")
        if parent not in self._listed:
            self._listed[parent] = None
            if self._real_dir(parent) == os.path.normpath(os.path.join(self.real_root, parent)):
                try:
                    with os.scandir(os.path.join(self.root, parent)) as found:
                        self._listed[parent] = {e.name: None if e.is_symlink() else e.is_file() for e in found}
                except OSError:
                    pass
        listed = self._listed[parent]
        return None if listed is None else listed.get(name, False)

    def __call__(self, path: str) -> tuple[str | None, str]:
        parent, _, name = path.rpartition("/")
        disk = os.path.join(self.root, path)
        real = os.path.realpath(disk) if os.path.islink(disk) else os.path.join(self._real_dir(parent), name)
        if real == os.path.join(self.real_root, path):
            return path, ""
        if os.path.islink(disk) and not os.path.exists(real):
            return None, "a symlink to a missing file: left alone"
        try:
            target = Path(real).relative_to(self.real_root).as_posix()
        except ValueError:
            return None, f"a symlink to {real}, outside the project: left alone"
        return target, f"a symlink: written to its target {target}"


def _where(root: Path, path: str) -> tuple[str | None, str]:
    return _Where(root)(path)


def plan(
    root: Path,
    new_files: dict[str, bytes],
    old: Provenance | None,
    render: Callable[[Manifest], dict[str, bytes]],
    unchanged: Mapping[str, Record] | None = None,
) -> list[Change]:
    """Decide what happens to every path; read files, write nothing.

    ``unchanged``: generated paths not rendered again, whose new content is the one their last
    record names (render.Rendered.reused). Whatever the file holds, nothing is written to it,
    so it is not read: only whether it is still there (a deleted one stays deleted).
    """
    bases = _Bases(root, old, render)
    old_files = old.files if old else {}
    same = unchanged or {}
    changes: list[Change] = []
    targets: dict[str, str] = {}
    where = _Where(root)
    for path in sorted(new_files.keys() | old_files.keys() | same.keys()):
        record = old_files.get(path)
        if path in same:
            exists = where.plain(path)
            if exists is None:
                target, link_note = where(path)
                change = _decide_unchanged(path, target, (root / (target or path)).is_file(), link_note)
            else:
                change = _decide_unchanged(path, path, exists, "")
            targets.setdefault(change.target, path)
            change.record = record
            changes.append(change)
            continue
        theirs = new_files.get(path)
        target, link_note = where(path)
        disk = root / (target or path)
        ours = disk.read_bytes() if target is not None and disk.is_file() else None
        if target is None:
            change = _decide_unreachable(path, theirs, record, link_note)
        else:
            change = _decide(path, ours, theirs, record.sha256 if record else None, bases)
            change.target = target
            if link_note and change.action == "delete":
                change = Change(path, "kept", before=ours, note="no longer generated; a symlink: left alone")
            elif link_note and target in targets and change.action in WRITES:
                other = targets[target]
                change = Change(
                    path, "blocked", before=ours, theirs=theirs, note=f"a symlink to {other}, also generated"
                )
            elif link_note and change.action != "same":
                change.note = f"{change.note}; {link_note}" if change.note else link_note
        targets.setdefault(change.target, path)
        change.record = record
        changes.append(change)
    return changes


def _decide_unchanged(path: str, target: str | None, exists: bool, why: str) -> Change:
    """A path whose new render is its last one (see :func:`plan`): what :func:`_decide` would
    decide, "same" or "keep" being told apart only by reading the file, which nothing needs."""
    if target is None:
        return Change(path, "keep", note=why)
    if not exists:
        note = "you deleted it: stays deleted" + (f"; {why}" if why else "")
        change = Change(path, "skip-deleted", note=note)
    else:
        change = Change(path, "unchanged", note=why)
    change.target = target
    return change


def _decide_unreachable(path: str, theirs: bytes | None, record: Record | None, why: str) -> Change:
    if theirs is None:
        return Change(path, "kept", note=f"no longer generated; {why}")
    if record is not None and record.sha256 == sha256(theirs):
        return Change(path, "keep", theirs=theirs, note=why)
    return Change(path, "blocked", theirs=theirs, note=f"{why}; msmvp's version not written")


def _decide(path: str, ours: bytes | None, theirs: bytes | None, base_hash: str | None, bases: _Bases) -> Change:
    if theirs is None:  # no longer generated
        if ours is None:
            return Change(path, "same", note="already gone")
        if base_hash is not None and sha256(ours) == base_hash:
            return Change(path, "delete", before=ours)
        return Change(path, "kept", before=ours, note="no longer generated, but you edited it: kept")
    if ours is None:
        if base_hash is not None:
            return Change(path, "skip-deleted", theirs=theirs, note="you deleted it: stays deleted")
        return Change(path, "create", after=theirs, theirs=theirs)
    if ours == theirs:
        return Change(path, "same", before=ours, theirs=theirs)
    if base_hash is None:
        return Change(path, "blocked", before=ours, theirs=theirs, note="your own file is where msmvp generates one")
    if sha256(ours) == base_hash:
        return Change(path, "update", before=ours, after=theirs, theirs=theirs, base=ours)
    if sha256(theirs) == base_hash:
        return Change(path, "keep", before=ours, theirs=theirs, note="your edit; msmvp's side is unchanged")
    base = bases.get(path)
    if base is None:
        note = "edited by you and changed by msmvp, and the last generated version is unknown"
        return Change(path, "blocked", before=ours, theirs=theirs, note=note)
    merged, conflicted = merge3(ours, base, theirs)
    if conflicted:
        if merged == ours:  # binary: nothing sensible to write
            return Change(
                path, "blocked", before=ours, base=base, theirs=theirs, note="binary file changed on both sides"
            )
        return Change(path, "conflict", before=ours, after=merged, base=base, theirs=theirs)
    return Change(path, "merge", before=ours, after=merged, base=base, theirs=theirs)


def kept_records(changes: list[Change]) -> dict[str, Record | None]:
    """What the next provenance records for paths msmvp did not write as generated.

    A blocked path keeps its last record (so the next run sees the same situation, not "your
    own file"), or none when it had none; a kept file (no longer generated, edited) keeps its
    record, so when msmvp generates it again its edits are merged, not "your own file"; a
    decision of ``msmvp resolve`` stays recorded while msmvp's side does not change.
    """
    out: dict[str, Record | None] = {}
    for change in changes:
        if change.action == "blocked" or (change.action == "kept" and change.record is not None):
            out[change.path] = change.record
        elif change.action == "keep" and change.record is not None and change.record.decision:
            out[change.path] = change.record  # a `msmvp resolve --keep-mine` that still holds
    return out


def conflict_hint(changes: list[Change]) -> str:
    """What the user finds on disk for the conflicts, and how to settle each kind."""
    marked = [c.path for c in changes if c.action == "conflict"]
    blocked = [c.path for c in changes if c.action == "blocked"]
    parts = []
    if marked:
        parts.append(
            f"{_some(marked)} hold <<<<<<< markers: edit them, then commit, or run "
            "`msmvp resolve PATH --keep-mine|--take-theirs`"
        )
    if blocked:
        parts.append(
            f"{_some(blocked)} are as you left them (no markers; msmvp's version was not written): "
            "decide with `msmvp resolve PATH --keep-mine` or `--take-theirs`"
        )
    return "; ".join(parts) + "; nothing else was lost"


def _some(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{len(paths)} files"


@dataclass
class Outcome:
    """What a regeneration did, for the CLI to report."""

    plan: Plan
    dry_run: bool
    commit: str | None = None
    newly_done: list[str] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C came past the point of no return: the run was finished
    notes: list[str] = field(default_factory=list)

    @property
    def conflict_hint(self) -> str:
        return conflict_hint(self.plan.changes)
