"""Every git operation msmvp makes, through the git command (a handful of short processes is
cheaper than importing a git library).

Children run in their own process group, so a Ctrl-C at the terminal reaches msmvp, which
decides what to do, and never kills a git half way through writing the index or a ref.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from msmvp.errors import GitError

FALLBACK_IDENTITY = {"NAME": "msmvp", "EMAIL": "msmvp@localhost"}
ZERO = "0" * 40


def run(
    root: Path,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` in ``root``; a failure (when ``check``) becomes :class:`GitError`."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=root,
            input=input,
            capture_output=True,
            check=False,
            env={**os.environ, **env} if env else None,
            process_group=0,
        )
    except FileNotFoundError:
        raise GitError("git is not available") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc


def is_repo(root: Path) -> bool:
    return (root / ".git").exists()


def dirty_paths(root: Path) -> list[str]:
    """Paths with uncommitted changes (staged, unstaged or untracked)."""
    out = run(root, "status", "--porcelain", "-z", "--untracked-files=all").stdout.decode()
    paths: list[str] = []
    fields = iter(out.split("\0"))
    for entry in fields:
        if not entry:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename's source follows as its own field
            next(fields, None)
    return paths


def merge_file(ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]) -> tuple[bytes, bool]:
    """``git merge-file -p``: (result, has conflicts)."""
    with tempfile.TemporaryDirectory(prefix="msmvp-merge-") as tmp:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        args = [arg for label in labels for arg in ("-L", label)]
        proc = run(Path(tmp), "merge-file", "-p", *args, *paths, check=False)
    if proc.returncode < 0 or proc.returncode > 127:
        raise GitError(f"git merge-file failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout, proc.returncode > 0


def cat_blob(root: Path, blob: str) -> bytes | None:
    proc = run(root, "cat-file", "blob", blob, check=False)
    return proc.stdout if proc.returncode == 0 else None


def head_files(root: Path, paths: Iterable[str]) -> dict[str, bytes]:
    """The committed content of each of ``paths`` that HEAD has (one process)."""
    wanted = list(paths)
    if not wanted:
        return {}
    request = "".join(f"HEAD:{p}\n" for p in wanted).encode()
    out = run(root, "cat-file", "--batch", input=request, check=False).stdout
    found: dict[str, bytes] = {}
    pos = 0
    for path in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        found[path] = out[pos : pos + size]
        pos += size + 1
    return found


def store_blobs(root: Path, contents: Iterable[bytes]) -> list[str]:
    """Write blobs to the object store; returns their ids."""
    ids = []
    for data in contents:
        ids.append(run(root, "hash-object", "-w", "--stdin", input=data).stdout.decode().strip())
    return ids


def _ident(root: Path | None, role: str) -> str:
    """``Name <email> TIMESTAMP TZ`` as git would use it, or msmvp's where git has none.

    One ``git var`` per role: ``git var -l`` would be one process, but it lists an identity
    guessed from the host (``root@host.(none)``) where the strict form refuses it."""
    proc = run(root or Path.cwd(), "var", f"GIT_{role}_IDENT", check=False)
    if proc.returncode == 0:
        return proc.stdout.decode().strip()
    name = os.environ.get(f"GIT_{role}_NAME", FALLBACK_IDENTITY["NAME"])
    email = os.environ.get(f"GIT_{role}_EMAIL", FALLBACK_IDENTITY["EMAIL"])
    return f"{name} <{email}> {int(time.time())} +0000"


def _commit_stream(ref: str, parent: str | None, message: str, root: Path, body: bytes) -> bytes:
    """A fast-import commit of ``body`` on ``ref``, marked ``:1`` (``get-mark :1`` prints its id)."""
    msg = message.encode()
    head = f"commit {ref}\nmark :1\nauthor {_ident(root, 'AUTHOR')}\ncommitter {_ident(root, 'COMMITTER')}\n".encode()
    head += b"data %d\n%s\n" % (len(msg), msg)
    if parent:
        head += f"from {parent}\n".encode()
    return head + body


@dataclass(frozen=True)
class Entry:
    """One path of a commit: its content and mode, or None to delete it."""

    content: bytes | None
    executable: bool = False


def _modifications(files: Mapping[str, Entry]) -> bytes:
    body = bytearray()
    for rel in sorted(files):
        entry = files[rel]
        if entry.content is None:
            body += f"D {rel}\n".encode()
            continue
        body += f"M {'100755' if entry.executable else '100644'} inline {rel}\n".encode()
        body += b"data %d\n%s\n" % (len(entry.content), entry.content)
    return bytes(body)


def _fast_import(root: Path, stream: bytes) -> str:
    """Run a one-commit stream; returns the commit's id."""
    with tempfile.TemporaryFile() as fh:
        fh.write(stream + b"get-mark :1\n")
        fh.seek(0)
        try:
            # No deltas and light compression: a generated tree is mostly distinct files (the
            # identical locks are one blob anyway), so deltas made the pack no smaller and cost
            # a third of the commit's time; `git gc` repacks it properly later.
            proc = subprocess.run(
                ["git", "-c", "pack.compression=1", "fast-import", "--quiet", "--depth=0"],
                cwd=root,
                stdin=fh,
                capture_output=True,
                check=False,
                process_group=0,
            )
        except FileNotFoundError:
            raise GitError("git is not available") from None
    if proc.returncode != 0:
        raise GitError(f"git fast-import failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode().strip()


class InitCommit:
    """``git init`` in ``path`` and the first commit of ``files`` ({relpath: (content,
    executable)}), made on a second thread while the caller writes the same files to disk.

    git's part (init, identity, fast-import) runs in its own processes, so on a machine with
    two cores it costs the run almost no time; only the index refresh, which reads the files,
    waits for them: :meth:`finish`. Nothing of the working tree is read before that.
    """

    def __init__(self, path: Path, message: str, files: Mapping[str, tuple[bytes, bool]]) -> None:
        self._path = path
        self._message = message
        self._files = files
        self._sha = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="msmvp-git-init", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._sha = _init_and_import(self._path, self._message, self._files)
        except BaseException as exc:  # handed to the caller by finish()
            self._error = exc

    def wait(self) -> None:
        """Let git's processes end (before a rollback removes what they write)."""
        self._thread.join()

    def finish(self) -> str:
        """Once ``files`` are on disk: the commit's sha, with the index = HEAD (``git status`` clean)."""
        self.wait()
        if self._error is not None:
            raise self._error
        _refresh_index(self._path)
        return self._sha


def _init_and_import(path: Path, message: str, files: Mapping[str, tuple[bytes, bool]]) -> str:
    """``git init`` in ``path`` and the commit of ``files`` on ``main``; returns its sha. Reads
    nothing of the working tree."""
    run(path, "init", "-q", "--initial-branch=main")
    entries = {rel: Entry(content, executable) for rel, (content, executable) in files.items()}
    return _fast_import(path, _commit_stream("refs/heads/main", None, message, path, _modifications(entries)))


def _refresh_index(path: Path) -> None:
    """Index = HEAD with fresh stat data from the files on disk (a mixed reset does both), so
    ``git status`` is clean at once."""
    run(path, "reset", "-q")


def init_and_commit(path: Path, message: str, files: Mapping[str, tuple[bytes, bool]]) -> str:
    """``git init`` in ``path`` and commit ``files``, which are already on disk there; returns the
    commit sha.

    The commit is streamed through ``git fast-import`` into one pack: a fresh repo of a hundred
    files costs one process instead of a loose object (and its fsyncs) per file.
    """
    sha = _init_and_import(path, message, files)
    _refresh_index(path)
    return sha


def head(root: Path) -> tuple[str | None, str | None]:
    """(the commit HEAD names or None in a repo without commits, the branch ref or None when detached)."""
    proc = run(root, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD", check=False)
    lines = proc.stdout.decode().split()
    if proc.returncode != 0 or len(lines) != 2:
        ref = run(root, "symbolic-ref", "-q", "HEAD", check=False).stdout.decode().strip()
        return None, ref or None
    return lines[0], (lines[1] if lines[1] != "HEAD" else None)


def commit_contents(root: Path, files: Mapping[str, Entry], message: str, *, expected_head: str | None) -> str:
    """Commit exactly ``files`` on top of HEAD, whatever else the working tree or index holds.

    The commit is built from the given contents, not from the working tree: a user's uncommitted
    edit stays uncommitted. The index entries of these paths are set to the committed contents
    (so they show no staged change); the rest of the index is left as it was.
    """
    parent, ref = head(root)
    if parent != expected_head:
        raise GitError(f"HEAD moved while msmvp ran (now {str(parent)[:8]})", hint="commit msmvp's changes by hand")
    target = ref or "refs/msmvp/commit"
    sha = _fast_import(root, _commit_stream(target, parent, message, root, _modifications(files)))
    if ref is None:  # detached HEAD: move HEAD itself, drop the scratch ref
        run(root, "update-ref", "--no-deref", "HEAD", sha)
        run(root, "update-ref", "-d", target)
    sync_index(root, files)
    return sha


def sync_index(root: Path, files: Mapping[str, Entry]) -> None:
    """Set the index entries of ``files`` to these contents (the rest of the index is untouched)."""
    from msmvp.provenance import git_blob_id

    lines = []
    for rel, entry in sorted(files.items()):
        if entry.content is None:
            lines.append(f"0 {ZERO}\t{rel}")
        else:
            lines.append(f"{'100755' if entry.executable else '100644'} {git_blob_id(entry.content)}\t{rel}")
    run(root, "update-index", "--index-info", input=("\n".join(lines) + "\n").encode())
    run(root, "update-index", "-q", "--refresh", check=False)


def already_committed(root: Path, parent: str | None, message: str) -> str | None:
    """HEAD, when it is a commit of ``message`` on ``parent`` (a killed run got that far)."""
    proc = run(root, "log", "-1", "--format=%H%n%P%n%B", check=False)
    if proc.returncode != 0:
        return None
    sha, parents, body = [*proc.stdout.decode().split("\n", 2), "", ""][:3]
    if parents.strip() == (parent or "") and body.strip() == message.strip():
        return sha.strip()
    return None


def record_conflicts(root: Path, conflicts: Iterable[tuple[str, bytes, bytes, bytes]]) -> None:
    """Mark files as unmerged in git's index (stages 1-3: base, ours, theirs), as `git merge` would."""
    lines = []
    for path, base, ours, theirs in conflicts:
        lines.append(f"0 {ZERO}\t{path}")
        for stage, blob in enumerate(store_blobs(root, (base, ours, theirs)), start=1):
            lines.append(f"100644 {blob} {stage}\t{path}")
    if lines:
        run(root, "update-index", "--index-info", input=("\n".join(lines) + "\n").encode())


def unmerged_stage(root: Path, path: str, stage: int) -> bytes | None:
    """The content of ``path`` at an unmerged index stage (2: yours), or None."""
    proc = run(root, "show", f":{stage}:{path}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def stage_paths(root: Path, paths: Iterable[str]) -> None:
    """``git add`` exactly ``paths`` (clears their unmerged state)."""
    pathspec = sorted(set(paths))
    if pathspec:
        run(root, "add", "-A", "--", *pathspec)
