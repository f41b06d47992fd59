"""Where the data files shipped with msmvp live: templates and checklists.

In a wheel they are package data under ``msmvp/``; in a source checkout they sit at the
repository root, next to ``src/``.
"""

from __future__ import annotations

import os
import pickle
from functools import cache
from importlib.resources import files
from pathlib import Path


@cache
def _data_root() -> Path:
    packaged = Path(str(files("msmvp")))
    if (packaged / "templates").is_dir():
        return packaged
    return packaged.parent.parent


def templates_dir() -> Path:
    return _data_root() / "templates"


def checklists_dir() -> Path:
    return _data_root() / "checklists"


@cache
def component_values(root: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Built values per axis: the ``components/<axis>/<value>/`` folders holding a
    ``component.yml``. A folder whose name starts with ``_`` holds what several values of the
    axis share (they name it in ``uses``) and is not a value itself. Here, not in :mod:`msmvp.components`, so the CLI can list them for
    ``--help`` without importing the component models (and pydantic)."""
    root = root if root is not None else templates_dir() / "components"
    out: dict[str, tuple[str, ...]] = {}
    if not root.is_dir():
        return out
    for axis_dir in sorted(root.iterdir()):
        if axis_dir.is_dir():
            out[axis_dir.name] = tuple(
                sorted(
                    v.name for v in axis_dir.iterdir() if (v / "component.yml").is_file() and not v.name.startswith("_")
                )
            )
    return out


def cache_dir(name: str) -> Path | None:
    """``<user cache>/msmvp/<name>``, created; None when caching is off (MSMVP_NO_CACHE) or the
    directory cannot be written. Everything kept there is keyed by its inputs and msmvp's version."""
    if os.environ.get("MSMVP_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = Path(base) / "msmvp" / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return directory


def cache_get(entry: Path) -> object | None:
    """What :func:`cache_put` kept in ``entry``, or None (missing, unreadable or from other code)."""
    try:
        loaded: object = pickle.loads(entry.read_bytes())  # noqa: S301 - written by msmvp into the user's own cache
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return loaded


def cache_put(entry: Path, data: bytes) -> None:
    """Keep ``data`` in ``entry`` (atomically; a cache that cannot be written is simply not used)."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, entry)
    except OSError:
        tmp.unlink(missing_ok=True)
