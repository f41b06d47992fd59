"""Git through GitPython: initialise a repository and commit in it."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from msmvp.errors import GitError

FALLBACK_IDENTITY = {"NAME": "msmvp", "EMAIL": "msmvp@localhost"}


@contextmanager
def _git() -> Iterator[Any]:
    """Import GitPython and turn its failures into :class:`GitError`."""
    try:
        import git
    except ImportError as exc:  # GitPython raises ImportError when the git binary is missing
        raise GitError(f"git is not available: {exc}") from None
    try:
        yield git
    except git.GitCommandError as exc:
        raise GitError(f"git failed: {str(exc.stderr).strip() or exc}") from None


def _ident(repo: Any, role: str) -> str:
    """``Name <email> TIMESTAMP TZ`` as git would use it, or msmvp's where git has none."""
    import git

    try:
        return str(repo.git.var(f"GIT_{role}_IDENT"))
    except git.GitCommandError:  # no identity configured anywhere
        name = os.environ.get(f"GIT_{role}_NAME", FALLBACK_IDENTITY["NAME"])
        email = os.environ.get(f"GIT_{role}_EMAIL", FALLBACK_IDENTITY["EMAIL"])
        return f"{name} <{email}> {int(time.time())} +0000"


def init_and_commit(path: Path, message: str, files: Mapping[str, tuple[bytes, bool]]) -> str:
    """``git init`` in ``path`` and commit ``files`` ({relpath: (content, executable)}), which
    are already on disk there; returns the commit sha.

    The commit is streamed through ``git fast-import`` into one pack: a fresh repo of a hundred
    files costs one process instead of a loose object (and its fsyncs) per file.
    """
    with _git() as git:
        repo = git.Repo.init(path, initial_branch="main")
        stream = bytearray()
        msg = message.encode()
        stream += b"commit refs/heads/main\n"
        stream += f"author {_ident(repo, 'AUTHOR')}\ncommitter {_ident(repo, 'COMMITTER')}\n".encode()
        stream += b"data %d\n%s\n" % (len(msg), msg)
        for rel in sorted(files):
            content, executable = files[rel]
            stream += f"M {'100755' if executable else '100644'} inline {rel}\n".encode()
            stream += b"data %d\n%s\n" % (len(content), content)
        with tempfile.TemporaryFile() as fh:
            fh.write(stream)
            fh.seek(0)
            repo.git.execute(["git", "fast-import", "--quiet"], istream=fh)
        # Index = HEAD, with stat data refreshed, so `git status` is clean at once.
        repo.git.read_tree("HEAD")
        repo.git.update_index("-q", "--refresh")
        return str(repo.git.rev_parse("HEAD"))
