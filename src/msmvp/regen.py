"""Re-render an existing project without losing an edit.

For every file: base = what msmvp generated last time, ours = the file now, theirs = the new
render. ours == base → write theirs; theirs == base → keep ours; otherwise a three-way merge
(``git merge-file``): a clean merge is written, a conflict is written with standard markers
and listed. A generated file the user deleted stays deleted; a user's own file at a path msmvp
now wants is never overwritten. All writes happen in one transaction that is rolled back on
any failure, Ctrl-C included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from msmvp import __version__
from msmvp.errors import GitError
from msmvp.gitops import FALLBACK_IDENTITY as _FALLBACK
from msmvp.manifest import MANIFEST, Manifest
from msmvp.provenance import PROVENANCE, Provenance, sha256

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


@dataclass
class Plan:
    """Every change of a regeneration, plus the new manifest and provenance contents."""

    changes: list[Change]
    manifest_bytes: bytes
    provenance_bytes: bytes
    meta_changed: bool = False

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
    with tempfile.TemporaryDirectory(prefix="msmvp-merge-") as tmp:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        labels = [arg for label in LABELS for arg in ("-L", label)]
        try:
            proc = subprocess.run(["git", "merge-file", "-p", *labels, *paths], capture_output=True, check=False)
        except FileNotFoundError:
            raise GitError("git is needed to merge your edits with the new render") from None
    if proc.returncode < 0 or proc.returncode > 127:
        raise GitError(f"git merge-file failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout, proc.returncode > 0


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
        if record.blob:
            proc = subprocess.run(
                ["git", "cat-file", "blob", record.blob], cwd=self.root, capture_output=True, check=False
            )
            if proc.returncode == 0 and sha256(proc.stdout) == record.sha256:
                return proc.stdout
        return None


def plan(
    root: Path,
    new_files: dict[str, bytes],
    old: Provenance | None,
    render: Callable[[Manifest], dict[str, bytes]],
    manifest_bytes: bytes,
    provenance_bytes: Callable[[set[str]], bytes],
) -> Plan:
    """Decide what happens to every path; read files, write nothing.

    ``provenance_bytes`` is called with the generated paths that must not be recorded
    (user files msmvp could not write) and returns the new provenance record.
    """
    bases = _Bases(root, old, render)
    old_files = old.files if old else {}
    changes: list[Change] = []
    unrecorded: set[str] = set()
    for path in sorted(new_files.keys() | old_files.keys()):
        theirs = new_files.get(path)
        disk = root / path
        ours = disk.read_bytes() if disk.is_file() else None
        record = old_files.get(path)
        changes.append(_decide(path, ours, theirs, record.sha256 if record else None, bases))
        if changes[-1].action == "blocked":
            unrecorded.add(path)
    manifest_path = root / MANIFEST
    meta_changed = (
        not manifest_path.is_file() or manifest_path.read_bytes() != manifest_bytes or not (root / PROVENANCE).is_file()
    )
    prov = provenance_bytes(unrecorded)
    if not meta_changed:
        meta_changed = (root / PROVENANCE).read_bytes() != prov
    return Plan(changes, manifest_bytes, prov, meta_changed)


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
        return Change(path, "blocked", before=ours, theirs=theirs, note="your file is where msmvp generates one")
    if sha256(ours) == base_hash:
        return Change(path, "update", before=ours, after=theirs, theirs=theirs)
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


def apply(root: Path, plan_: Plan) -> None:
    """Write the plan in one transaction: on any failure every touched path is restored."""
    journal: list[tuple[Path, Path | None]] = []  # (path, backup or None if it did not exist)
    backup_dir = Path(tempfile.mkdtemp(prefix=".msmvp-txn-", dir=root))
    writes: list[tuple[str, bytes | None]] = [
        (c.path, None if c.action == "delete" else c.after) for c in plan_.effective
    ]
    writes += [(MANIFEST, plan_.manifest_bytes), (PROVENANCE, plan_.provenance_bytes)]
    try:
        for index, (rel, data) in enumerate(writes):
            path = root / rel
            saved: Path | None = None
            if path.is_file():
                saved = backup_dir / str(index)
                shutil.copy2(path, saved)
            journal.append((path, saved))
            if data is None:
                path.unlink()
                _prune_empty_dirs(path.parent, root)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.msmvp-tmp")
                tmp.write_bytes(data)
                if saved is not None:
                    shutil.copymode(saved, tmp)
                os.replace(tmp, path)
    except BaseException:
        for path, backup in reversed(journal):
            path.with_name(f".{path.name}.msmvp-tmp").unlink(missing_ok=True)
            if backup is None:
                path.unlink(missing_ok=True)
                _prune_empty_dirs(path.parent, root)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(backup, path)
        raise
    finally:
        shutil.rmtree(backup_dir, ignore_errors=True)


def _prune_empty_dirs(directory: Path, root: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def is_git_repo(root: Path) -> bool:
    return (root / ".git").exists()


def dirty_paths(root: Path) -> list[str]:
    proc = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GitError(f"git status failed: {proc.stderr.strip()}")
    return [line[3:] for line in proc.stdout.splitlines()]


def record_git_conflicts(root: Path, conflicts: Iterable[Change]) -> None:
    """Mark conflicted files as unmerged in git's index (stages 1-3), as `git merge` would."""
    lines = []
    for change in conflicts:
        if change.action != "conflict" or change.base is None or change.before is None or change.theirs is None:
            continue
        lines.append(f"0 {'0' * 40}\t{change.path}")
        for stage, data in ((1, change.base), (2, change.before), (3, change.theirs)):
            blob = (
                subprocess.run(
                    ["git", "hash-object", "-w", "--stdin"], cwd=root, input=data, capture_output=True, check=True
                )
                .stdout.decode()
                .strip()
            )
            lines.append(f"100644 {blob} {stage}\t{change.path}")
    if lines:
        subprocess.run(
            ["git", "update-index", "--index-info"], cwd=root, input="\n".join(lines) + "\n", text=True, check=True
        )


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def commit(root: Path, paths: Iterable[str], message: str) -> str:
    """Stage exactly ``paths`` (additions, edits and deletions) and commit only them.

    Plain git subprocesses, like the merge above: importing GitPython would cost more than
    the two commands it would run.
    """
    pathspec = sorted(set(paths))
    _git(root, "add", "-A", "--", *pathspec)
    env = {}
    if subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], cwd=root, capture_output=True, check=False).returncode:
        env = {f"GIT_{who}_{key}": value for who in ("AUTHOR", "COMMITTER") for key, value in _FALLBACK.items()}
    _git(root, "commit", "-q", "--no-verify", "-m", message, "--", *pathspec, env=env)
    return _git(root, "rev-parse", "HEAD").strip()


@dataclass
class Outcome:
    """What a regeneration did, for the CLI to report."""

    plan: Plan
    dry_run: bool
    commit: str | None = None
    newly_done: list[str] = field(default_factory=list)
