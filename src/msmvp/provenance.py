"""The provenance record: for each generated file, its template, content hash and checklist items.

Regeneration compares a file on disk with the hash here to know whether the user touched it;
``msmvp status`` reads it to tell generated-untouched, modified and deleted files apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msmvp.render import PlannedFile

PROVENANCE = ".msmvp/provenance.json"
SCHEMA = "msmvp-provenance/1"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Record:
    template: str
    sha256: str
    items: tuple[str, ...]


def build(files: Sequence[PlannedFile], items: Mapping[str, list[str]], version: str) -> bytes:
    """Serialise the record for ``files`` (stable, diff-friendly JSON)."""
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "msmvp_version": version,
        "files": {
            f.path: {"template": f.template, "sha256": sha256(f.content), "items": sorted(items.get(f.path, []))}
            for f in files
        },
    }
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()


def load(project_dir: Path) -> dict[str, Record] | None:
    """The records of a project, or None when it has no (readable) provenance."""
    try:
        data = json.loads((project_dir / PROVENANCE).read_text(encoding="utf-8"))
        return {
            path: Record(rec["template"], rec["sha256"], tuple(rec.get("items", [])))
            for path, rec in data["files"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None
