"""Where the data files shipped with msmvp live: templates and checklists.

In a wheel they are package data under ``msmvp/``; in a source checkout they sit at the
repository root, next to ``src/``.
"""

from __future__ import annotations

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
