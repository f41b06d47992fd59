"""Git through GitPython: initialise a repository and commit everything in it."""

from __future__ import annotations

import os
from pathlib import Path

from msmvp.errors import GitError

_FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "msmvp", "GIT_AUTHOR_EMAIL": "msmvp@localhost"}


def init_and_commit(path: Path, message: str) -> str:
    """``git init`` + ``git add -A`` + commit in ``path``; returns the commit sha."""
    try:
        import git
    except ImportError as exc:  # GitPython raises ImportError when the git binary is missing
        raise GitError(f"git is not available: {exc}") from None
    try:
        repo = git.Repo.init(path, initial_branch="main")
        repo.git.add("-A")
        env = {}
        reader = repo.config_reader()
        if not (reader.has_option("user", "name") or os.environ.get("GIT_AUTHOR_NAME")):
            env.update(_FALLBACK_IDENTITY)
        if not (reader.has_option("user", "email") or os.environ.get("GIT_AUTHOR_EMAIL")):
            env.update(_FALLBACK_IDENTITY)
        env.update({k.replace("AUTHOR", "COMMITTER"): v for k, v in env.items()})
        with repo.git.custom_environment(**env):
            repo.git.commit("-q", "--no-verify", "-m", message)
        return repo.head.commit.hexsha
    except git.GitCommandError as exc:
        raise GitError(f"git failed: {exc.stderr.strip() or exc}") from None
