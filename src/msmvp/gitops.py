"""Git through GitPython: initialise a repository and commit in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from msmvp.errors import GitError

_FALLBACK = {"NAME": "msmvp", "EMAIL": "msmvp@localhost"}


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


def _commit(repo: Any, message: str, *pathspec: str) -> str:
    # Use the user's identity; only where git has none at all, commit as msmvp.
    reader = repo.config_reader()
    env = {}
    for key, fallback in _FALLBACK.items():
        if not (reader.has_option("user", key.lower()) or os.environ.get(f"GIT_AUTHOR_{key}")):
            env[f"GIT_AUTHOR_{key}"] = env[f"GIT_COMMITTER_{key}"] = fallback
    with repo.git.custom_environment(**env):
        repo.git.commit("-q", "--no-verify", "-m", message, *(("--", *pathspec) if pathspec else ()))
    return str(repo.head.commit.hexsha)


def init_and_commit(path: Path, message: str) -> str:
    """``git init`` + ``git add -A`` + commit in ``path``; returns the commit sha."""
    with _git() as git:
        repo = git.Repo.init(path, initial_branch="main")
        repo.git.add("-A")
        return _commit(repo, message)


def commit_paths(path: Path, paths: list[str], message: str) -> str:
    """Stage ``paths`` (deleted ones included) and commit only them; returns the commit sha."""
    with _git() as git:
        repo = git.Repo(path)
        repo.git.add("-A", "--", *paths)
        return _commit(repo, message, *paths)
