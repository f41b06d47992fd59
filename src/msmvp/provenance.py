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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # render pulls in Jinja2, which `msmvp status` never needs
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
    blob: str = ""
    decision: str = ""  # "mine": `msmvp resolve --keep-mine` chose the user's file over this content

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"template": self.template, "sha256": self.sha256, "blob": self.blob}
        data["items"] = sorted(self.items)
        if self.decision:
            data["decision"] = self.decision
        return data


@dataclass(frozen=True)
class Provenance:
    """A project's provenance: the msmvp version and inputs of the last render, and its files."""

    msmvp_version: str
    inputs: dict[str, Any]
    files: dict[str, Record]


def git_blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob, so a base can be found in the object database."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def record_of(f: PlannedFile, items: Sequence[str]) -> Record:
    return Record(f.template, sha256(f.content), tuple(sorted(items)), git_blob_id(f.content))


def build(
    files: Sequence[PlannedFile],
    items: Mapping[str, list[str]],
    version: str,
    inputs: Mapping[str, Any],
    keep: Mapping[str, Record | None] | None = None,
) -> bytes:
    """Serialise the record for ``files`` (stable, diff-friendly JSON).

    ``inputs`` is the manifest the files were rendered from: with the same msmvp version it
    re-renders the exact base of a later three-way merge, even after msmvp.yaml was edited.
    ``keep`` overrides the record of a path: an earlier record msmvp keeps (or None: no record).
    """
    records = {f.path: record_of(f, items.get(f.path, [])) for f in files}
    for path, record in (keep or {}).items():
        if record is None:
            records.pop(path, None)
        else:
            records[path] = record
    return dump(Provenance(version, dict(inputs), records))


def dump(prov: Provenance) -> bytes:
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "msmvp_version": prov.msmvp_version,
        "inputs": prov.inputs,
        "files": {path: record.to_data() for path, record in prov.files.items()},
    }
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()


def load_full(project_dir: Path) -> Provenance | None:
    """The whole provenance of a project, or None when it has none (or it is unreadable)."""
    try:
        data = json.loads((project_dir / PROVENANCE).read_text(encoding="utf-8"))
        files = {
            path: Record(
                rec["template"],
                rec["sha256"],
                tuple(rec.get("items", [])),
                rec.get("blob", ""),
                rec.get("decision", ""),
            )
            for path, rec in data["files"].items()
        }
        return Provenance(str(data.get("msmvp_version", "")), dict(data.get("inputs") or {}), files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load(project_dir: Path) -> dict[str, Record] | None:
    """The file records of a project, or None when it has no (readable) provenance."""
    full = load_full(project_dir)
    return None if full is None else full.files
