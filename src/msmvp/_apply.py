"""Write a plan to disk atomically: everything goes into a temporary sibling directory that is
moved into place only when complete, so a failure or Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from msmvp.errors import TargetExistsError


def check_target(target: Path) -> None:
    """Refuse a target that is a file or a non-empty directory."""
    if target.is_file():
        raise TargetExistsError(f"{target} exists and is a file")
    if target.is_dir() and any(target.iterdir()):
        raise TargetExistsError(f"{target} exists and is not empty")


def write_file(root: Path, relpath: str, content: bytes, executable: bool = False) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if executable:
        path.chmod(0o755)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; on success it becomes ``target``."""
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.msmvp-", dir=target.parent))
    try:
        yield stage
        check_target(target)  # nothing appeared there meanwhile
        if target.is_dir():
            target.rmdir()
        os.replace(stage, target)
        target.chmod(0o777 & ~_umask())
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
