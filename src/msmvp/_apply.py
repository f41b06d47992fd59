"""The one writer: every change msmvp makes to a project goes through :func:`apply`.

A run first stages every new content and a backup of every file it replaces in
``.msmvp/txn/`` and writes a journal there; nothing in the tree has changed yet. Then the
files are moved into place. Once the journal says ``written`` (the point of no return) the
run only finishes: the git commit, then removing the folder. (A new project's repository and
first commit are made by git meanwhile, from the contents in memory: only the index, which
needs the files on disk, waits for that point.)

- Ctrl-C (SIGINT) is held while the transaction runs. Before the point of no return it rolls
  everything back and raises :class:`~msmvp.errors.Interrupted`; after it, the run is
  finished and the result says it was interrupted. Either way the message is true.
- Killed outright (SIGKILL, power loss), the journal stays behind: the next msmvp command calls
  :func:`recover`, which rolls back (or, past the point of no return, completes) and removes
  the folder, and says what it did.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from msmvp.errors import BusyError, Interrupted, TargetExistsError

if TYPE_CHECKING:
    from msmvp.gitops import InitCommit

TXN = ".msmvp/txn"
JOURNAL = "journal.json"
SCHEMA = "msmvp-journal/1"


def check_target(target: Path) -> None:
    """Refuse a target that is a file or a non-empty directory."""
    if target.is_file():
        raise TargetExistsError(f"{target} exists and is a file")
    if target.is_dir() and any(target.iterdir()):
        raise TargetExistsError(f"{target} exists and is not empty")


@dataclass(frozen=True)
class Write:
    """One path to write (``content``) or delete (``content is None``).

    ``path`` is where the bytes go on disk, relative to the root (for a symlink inside the
    project: its target). ``executable`` None keeps the mode of the file it replaces.
    """

    path: str
    content: bytes | None
    executable: bool | None = None


@dataclass(frozen=True)
class CommitSpec:
    """The git commit that finishes a run: ``files`` {path: (content or None to delete, executable)}."""

    message: str
    files: Mapping[str, tuple[bytes | None, bool]]
    head: str | None = None
    init: bool = False  # a new project: `git init` first


@dataclass
class Applied:
    """What :func:`apply` did."""

    written: int = 0
    commit: str | None = None
    interrupted: bool = False  # Ctrl-C came after the point of no return; the run was finished


@dataclass
class Recovery:
    """What :func:`recover` did with a journal an interrupted run left."""

    operation: str
    pid: int
    action: str  # "rolled back" | "completed"
    restored: int = 0
    notes: list[str] = field(default_factory=list)
    commit: str | None = None

    def describe(self) -> str:
        what = f"an interrupted `msmvp {self.operation}` (pid {self.pid})" if self.pid else "an interrupted msmvp run"
        if self.action == "rolled back" and not self.restored:
            done = "it had changed nothing yet"
        elif self.action == "rolled back":
            done = f"restored {self.restored} file(s) as they were before it"
        else:
            done = "it had written every file; finished it" + (f" (commit {self.commit[:8]})" if self.commit else "")
        return f"found {what}: {done} and removed its temporary files"


# -- fault points (tests) ---------------------------------------------------------------


class _Faults:
    """``MSMVP_FAULT_AT=N`` sends this process ``MSMVP_FAULT_SIGNAL`` (INT or KILL) at the Nth
    step of a transaction; ``MSMVP_FAULT_AT=count`` prints how many steps a run has."""

    def __init__(self) -> None:
        self.at = os.environ.get("MSMVP_FAULT_AT", "")
        self.sig = signal.SIGKILL if os.environ.get("MSMVP_FAULT_SIGNAL", "INT") == "KILL" else signal.SIGINT
        self.count = 0

    def step(self) -> None:
        if not self.at:
            return
        self.count += 1
        if self.at.isdigit() and self.count == int(self.at):
            os.kill(os.getpid(), self.sig)

    def report(self) -> None:
        if self.at == "count":
            os.write(2, f"fault points: {self.count}\n".encode())


_faults = _Faults()
_state = {"past_no_return": False}


def interrupted_message() -> str:
    """What a Ctrl-C outside a transaction leaves, in one true line."""
    if _state["past_no_return"]:
        return "interrupted after msmvp had written every change; the files are complete (see `git status`)"
    return "interrupted; nothing was changed"


# -- Ctrl-C ------------------------------------------------------------------------------


class _Interrupts:
    """Holds SIGINT while a transaction runs; :meth:`check` raises before the point of no return."""

    def __init__(self) -> None:
        self.pending = False
        self.past_no_return = False

    def check(self) -> None:
        _faults.step()
        if self.pending and not self.past_no_return:
            raise Interrupted("interrupted; nothing was changed")

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True

    @contextmanager
    def held(self) -> Iterator[_Interrupts]:
        try:
            previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: nothing to hold
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


# -- the journal -------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    from msmvp.provenance import sha256

    return sha256(data)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prune_empty_dirs(directory: Path, root: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def apply(
    root: Path,
    writes: list[Write],
    *,
    operation: str,
    commit: CommitSpec | None = None,
    create_root: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Applied:
    """Write ``writes`` under ``root`` as one transaction, then make ``commit``.

    ``create_root``: ``root`` is a new project folder (``msmvp new``); a rollback removes it.
    ``progress`` is called with each path once it is in place.
    """
    recover(root)  # a journal here is an earlier run that was killed
    _state["past_no_return"] = False
    interrupts = _Interrupts()
    with interrupts.held():
        interrupts.check()
        created_root = create_root and not root.exists()
        txn = root / TXN
        txn.mkdir(parents=True)
        journal: dict[str, Any] = {
            "schema": SCHEMA,
            "operation": operation,
            "pid": os.getpid(),
            "phase": "preparing",  # the tree is not touched until "prepared"
            "created_root": created_root,
            # A new repository is made while the files are staged and moved in (git's own
            # processes, on the other core); a rollback removes it with the rest.
            "git_init": bool(commit and commit.init),
            "entries": [],
            "commit": None,
        }
        pending: InitCommit | None = None
        try:
            _write_json(txn / JOURNAL, journal)
            if commit is not None and commit.init:
                from msmvp.gitops import InitCommit

                pending = InitCommit(
                    root, commit.message, {p: (c, x) for p, (c, x) in commit.files.items() if c is not None}
                )
            entries = _prepare(root, txn, writes, interrupts)
            journal.update(phase="prepared", entries=entries, commit=_commit_record(txn, commit, writes))
            _write_json(txn / JOURNAL, journal)
            interrupts.check()
            for entry in entries:
                _move_in(root, txn, entry)
                if progress:
                    progress(entry["path"])
                interrupts.check()
            journal["phase"] = "written"
            _write_json(txn / JOURNAL, journal)
        except BaseException:
            with _quiet():
                if pending is not None:
                    pending.wait()
                _rollback(root, txn, created_root)
            raise
        # The point of no return: from here on the run finishes, Ctrl-C or not.
        interrupts.past_no_return = True
        _state["past_no_return"] = True
        interrupts.check()
        result = Applied(written=len(entries))
        if commit is not None:
            result.commit = pending.finish() if pending else _finish_commit(root, txn, journal["commit"], commit.files)
            interrupts.check()
        shutil.rmtree(txn, ignore_errors=True)
        _prune_empty_dirs(txn.parent, root)
        _faults.report()
        result.interrupted = interrupts.pending
        return result


@contextmanager
def _quiet() -> Iterator[None]:
    """Ignore SIGINT for a moment (a rollback must not be cut short)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _prepare(root: Path, txn: Path, writes: list[Write], interrupts: _Interrupts) -> list[dict[str, Any]]:
    """Stage new contents and backups in ``txn``; the tree is not touched."""
    (txn / "new").mkdir()
    (txn / "old").mkdir()
    entries = []
    for index, write in enumerate(writes):
        path = root / write.path
        old = _read(path)
        entry: dict[str, Any] = {
            "path": write.path,
            "old": _sha(old) if old is not None else None,
            "new": _sha(write.content) if write.content is not None else None,
        }
        if old is not None:
            shutil.copy2(path, txn / "old" / str(index))
        if write.content is not None:
            staged = txn / "new" / str(index)
            staged.write_bytes(write.content)
            if write.executable is True:
                staged.chmod(0o755)
            elif old is not None and write.executable is None:
                shutil.copymode(path, staged)
        entry["index"] = index
        entries.append(entry)
        interrupts.check()
    return entries


def _move_in(root: Path, txn: Path, entry: Mapping[str, Any]) -> None:
    path = root / entry["path"]
    if entry["new"] is None:
        path.unlink(missing_ok=True)
        _prune_empty_dirs(path.parent, root)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(txn / "new" / str(entry["index"]), path)


def _rollback(root: Path, txn: Path, created_root: bool, notes: list[str] | None = None) -> int:
    """Put back every path the journal touched; returns how many were restored."""
    restored = 0
    journal = _load_journal(txn)
    if journal and journal.get("git_init"):
        shutil.rmtree(root / ".git", ignore_errors=True)
    for entry in reversed(journal.get("entries", []) if journal else []):
        path = root / entry["path"]
        now = _read(path)
        now_sha = _sha(now) if now is not None else None
        if now_sha == entry["old"]:
            if entry["old"] is None:  # its folder may have been made just before the interruption
                _prune_empty_dirs(path.parent, root)
            continue
        if now_sha != entry["new"] and notes is not None:
            notes.append(f"{entry['path']} changed after the interruption: left as it is")
            continue
        if entry["old"] is None:
            path.unlink(missing_ok=True)
            _prune_empty_dirs(path.parent, root)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            backup = txn / "old" / str(entry["index"])
            tmp = path.with_name(f".{path.name}.msmvp-restore")
            shutil.copy2(backup, tmp)
            os.rename(tmp, path)
        restored += 1
    shutil.rmtree(txn, ignore_errors=True)
    _prune_empty_dirs(txn.parent, root)
    if created_root and root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    return restored


def _load_journal(txn: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((txn / JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def _commit_record(txn: Path, commit: CommitSpec | None, writes: list[Write]) -> dict[str, Any] | None:
    """What the commit needs, on disk, so a recovery can make it too. A path committed as it is
    written is read back from the tree (by its hash); only other contents are stored."""
    if commit is None:
        return None
    (txn / "commit").mkdir()
    written = {w.path: w.content for w in writes}
    files: dict[str, Any] = {}
    for index, (path, (content, executable)) in enumerate(sorted(commit.files.items())):
        if content is None:
            files[path] = None
        elif written.get(path) is content or written.get(path) == content:
            files[path] = {"tree": _sha(content), "executable": executable}
        else:
            (txn / "commit" / str(index)).write_bytes(content)
            files[path] = {"index": index, "executable": executable}
    return {"message": commit.message, "head": commit.head, "init": commit.init, "files": files}


def _finish_commit(
    root: Path, txn: Path, record: Mapping[str, Any], known: Mapping[str, tuple[bytes | None, bool]] | None = None
) -> str:
    """Make the commit of ``record``; ``known`` are its contents when this process has them."""
    from msmvp import gitops

    files: dict[str, tuple[bytes | None, bool]] = dict(known or {})
    if not files:
        for path, spec in record["files"].items():
            if spec is None:
                files[path] = (None, False)
            elif "tree" in spec:
                data = _read(root / path)
                if data is None or _sha(data) != spec["tree"]:
                    continue  # changed since the interruption: not msmvp's to commit
                files[path] = (data, bool(spec["executable"]))
            else:
                files[path] = ((txn / "commit" / str(spec["index"])).read_bytes(), bool(spec["executable"]))
    if record["init"]:
        shutil.rmtree(root / ".git", ignore_errors=True)  # a half-made repo of a killed run
        return gitops.init_and_commit(
            root, record["message"], {p: (c, x) for p, (c, x) in files.items() if c is not None}
        )
    entries = {p: gitops.Entry(c, x) for p, (c, x) in files.items()}
    done = gitops.already_committed(root, record["head"], record["message"])
    if done:
        gitops.sync_index(root, entries)
        return done
    return gitops.commit_contents(root, entries, record["message"], expected_head=record["head"])


def recover(root: Path) -> Recovery | None:
    """Finish or undo what an interrupted run left in ``root``; None when there is nothing."""
    txn = root / TXN
    if not txn.is_dir():
        return None
    journal = _load_journal(txn)
    if journal is None:  # killed before the journal was written: the tree was never touched
        shutil.rmtree(txn, ignore_errors=True)
        _prune_empty_dirs(txn.parent, root)
        return Recovery("run", 0, "rolled back")
    pid = int(journal.get("pid", 0))
    if _pid_alive(pid):
        raise BusyError(f"another msmvp (pid {pid}) is changing this project", hint="wait for it to finish")
    operation = str(journal.get("operation", "run"))
    with _quiet():
        if journal.get("phase") != "written":
            notes: list[str] = []
            restored = _rollback(root, txn, bool(journal.get("created_root")), notes)
            return Recovery(operation, pid, "rolled back", restored, notes)
        recovery = Recovery(operation, pid, "completed")
        if journal.get("commit"):
            recovery.commit = _finish_commit(root, txn, journal["commit"])
        shutil.rmtree(txn, ignore_errors=True)
        _prune_empty_dirs(txn.parent, root)
        return recovery
