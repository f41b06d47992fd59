"""The provenance record: for each generated file, its template, content hash and checklist items.

Regeneration compares a file on disk with the hash here to know whether the user touched it;
``msmvp status`` reads it to tell generated-untouched, modified and deleted files apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msmvp.targets import folder_of, seal

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
    # The input fingerprint of each service folder whose records are exactly its render
    # (msmvp.targets): a later run with the same fingerprint reuses them instead of rendering.
    targets: dict[str, str] = field(default_factory=dict)


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
    *,
    reused: Mapping[str, Record] | None = None,
    targets: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise the record for ``files`` (stable, diff-friendly JSON).

    ``inputs`` is the manifest the files were rendered from: with the same msmvp version it
    re-renders the exact base of a later three-way merge, even after msmvp.yaml was edited.
    ``keep`` overrides the record of a path: an earlier record msmvp keeps (or None: no record).
    ``reused``: generated files not rendered again, with their last records (their items are
    the ones given now); ``targets``: the service folders' fingerprints, kept (sealed with the
    folder's records, msmvp.targets.seal) for each folder none of whose paths ``keep`` overrides.
    """
    records = {f.path: record_of(f, items.get(f.path, [])) for f in files}
    if reused:
        for path, record in reused.items():
            records[path] = Record(record.template, record.sha256, tuple(sorted(items.get(path, []))), record.blob)
        records = {path: records[path] for path in sorted(records)}
    overridden = set()
    for path, kept in (keep or {}).items():
        overridden.add(folder_of(path))
        if kept is None:
            records.pop(path, None)
        else:
            records[path] = kept
    folders: dict[str, dict[str, Record]] = {}
    for path, record in records.items():
        folders.setdefault(folder_of(path), {})[path] = record
    sealed = {
        prefix: seal(fp, folders.get(prefix, {})) for prefix, fp in (targets or {}).items() if prefix not in overridden
    }
    return dump(Provenance(version, dict(inputs), records, sealed))


def dump(prov: Provenance) -> bytes:
    """The provenance as JSON with one-space indentation (what ``json.dumps(indent=1)`` writes,
    with the file records, most of the file, formatted directly: several times faster)."""
    head: dict[str, Any] = {"schema": SCHEMA, "msmvp_version": prov.msmvp_version, "inputs": prov.inputs}
    text = json.dumps(head, indent=1)[:-2]  # without the closing "\n}"
    parts = [text, ',\n "files": ', _dump_files(prov.files)]
    if prov.targets:
        parts += [',\n "targets": ', json.dumps(dict(prov.targets), indent=1).replace("\n", "\n ")]
    parts.append("\n}\n")
    return "".join(parts).encode()


def _dump_files(files: Mapping[str, Record]) -> str:
    if not files:
        return "{}"
    q = _quote
    out = []
    for path, record in files.items():
        items = "[\n" + ",\n".join(f"    {q(i)}" for i in sorted(record.items)) + "\n   ]" if record.items else "[]"
        decision = f',\n   "decision": {q(record.decision)}' if record.decision else ""
        out.append(
            f'  {q(path)}: {{\n   "template": {q(record.template)},\n   "sha256": {q(record.sha256)},\n'
            f'   "blob": {q(record.blob)},\n   "items": {items}{decision}\n  }}'
        )
    return "{\n" + ",\n".join(out) + "\n }"


def _quote(text: str) -> str:
    """``json.dumps(text)``, without its call for the common plain ASCII text."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


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
        found = data.get("targets")
        kept = {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
        return Provenance(str(data.get("msmvp_version", "")), dict(data.get("inputs") or {}), files, kept)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load(project_dir: Path) -> dict[str, Record] | None:
    """The file records of a project, or None when it has no (readable) provenance."""
    full = load_full(project_dir)
    return None if full is None else full.files
