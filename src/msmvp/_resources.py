"""Where the data files shipped with msmvp live: templates and checklists.

In a wheel they are package data under ``msmvp/``; in a source checkout they sit at the
repository root, next to ``src/``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
from collections.abc import Callable, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


def cache_key(*parts: bytes | str) -> str:
    """The hex digest that keys a cache entry made from ``parts``."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


@cache
def code_of(module: str) -> bytes:
    """The source of msmvp's module ``module`` (``"locks"``), for the key of what it computes;
    empty when only compiled modules are shipped (msmvp's version stands for them then)."""
    try:
        return (Path(__file__).parent / f"{module}.py").read_bytes()
    except OSError:
        return b""


@cache
def installed(package: str) -> str:
    """What identifies the installed ``package`` without importing it: where its code is, with
    the size and time of its ``__init__`` (a reinstall or another version changes them)."""
    spec = importlib.util.find_spec(package)
    origin = spec.origin if spec is not None else None
    if origin is None:
        return f"{package}: not installed"
    stat = os.stat(origin)
    return f"{package}: {origin} {stat.st_size} {stat.st_mtime_ns}"


def cached(name: str, parts: Sequence[bytes | str], build: Callable[[], T], kept: Callable[[object], T | None]) -> T:
    """``build()``, kept in the cache folder ``name`` under the key of ``parts``: ``kept`` gives
    back an entry's value when it has the shape ``build`` returns (else None: built again)."""
    directory = cache_dir(name)
    entry = directory / f"{cache_key(*parts)}.pickle" if directory is not None else None
    if entry is not None:
        value = kept(cache_get(entry))
        if value is not None:
            return value
    built = build()
    if entry is not None:
        cache_put(entry, pickle.dumps(built))
    return built
