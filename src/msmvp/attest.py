"""Attestations: a person vouching for a checklist item, stored in the repo so it is reviewed like code.

``.msmvp/attestations.yaml`` holds at most one attestation per item::

    schema: msmvp-attestations/1
    attestations:
      - item: "4.7"
        by: Dana Reviewer
        note: external penetration test, report in the wiki
        date: 2025-01-10
        expires: 2026-01-10   # optional; valid through this day

An attestation makes its item count as done in ``msmvp status`` (level ``attested``) until it
expires. It is meant for items only a human can finish (``human: true`` in the checklist); any
item may be attested, and the command says when the item is not a human one.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from msmvp.checklist import Checklist, Item
from msmvp.errors import AttestationInputError, AttestationsFileError, UnknownItemError

ATTESTATIONS = ".msmvp/attestations.yaml"
SCHEMA = "msmvp-attestations/1"
_HEADER = (
    "# Attestations for `msmvp status`: a person vouching for a checklist item.\n"
    "# Written by `msmvp attest ITEM --by NAME --note TEXT [--expires YYYY-MM-DD]`; review it like code.\n"
)


@dataclass(frozen=True)
class Attestation:
    """One person's statement that an item is done, valid through ``expires`` when set."""

    item: str
    by: str
    note: str
    date: dt.date
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def to_data(self) -> dict[str, str | dt.date]:
        """The entry as YAML data (dates stay dates, so the file shows them unquoted)."""
        data: dict[str, str | dt.date] = {"item": self.item, "by": self.by, "note": self.note, "date": self.date}
        if self.expires is not None:
            data["expires"] = self.expires
        return data


@dataclass(frozen=True)
class AttestResult:
    """What ``attest`` recorded, and what the user should know about it."""

    path: Path
    attestation: Attestation
    item: Item
    replaced: Attestation | None
    notes: tuple[str, ...]


def find_item(checklist: Checklist, item_id: str) -> Item:
    """The item ``item_id`` of ``checklist``, or :class:`UnknownItemError` with the nearest ids."""
    try:
        return checklist.item(item_id)
    except KeyError:
        ids = [i.id for i in checklist.items]
        close = difflib.get_close_matches(item_id, ids, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        hint += f"ids run from {ids[0]} to {ids[-1]}; `msmvp checklist show` lists them"
        raise UnknownItemError(f"no item {item_id!r} in checklist {checklist.name!r}", hint=hint) from None


def parse_date(value: str, what: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise AttestationInputError(
            f"{what} {value!r} is not a date", hint="write it as YYYY-MM-DD, e.g. 2026-01-31"
        ) from None


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of every mapping, for messages about a malformed file."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=True)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def load(root: Path) -> dict[str, Attestation]:
    """The attestations of the project at ``root`` by item id (empty when there is no file)."""
    path = root / ATTESTATIONS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AttestationsFileError(f"{ATTESTATIONS}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise AttestationsFileError(f"{ATTESTATIONS}:{mark.line + 1 if mark else 0}: not valid YAML") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA or not isinstance(raw.get("attestations", []), list):
        raise AttestationsFileError(
            f"{ATTESTATIONS}:1: expected keys schema: {SCHEMA} and attestations: a list of entries"
        )
    out: dict[str, Attestation] = {}
    for entry in raw.get("attestations") or []:
        line = entry.get("__line__", 0) if isinstance(entry, dict) else 0
        where = f"{ATTESTATIONS}:{line}"
        if not isinstance(entry, dict):
            raise AttestationsFileError(f"{where}: each attestation is a mapping with item, by, note, date")
        unknown = set(entry) - {"item", "by", "note", "date", "expires", "__line__"}
        if unknown:
            raise AttestationsFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        item_id, by, note = (str(entry.get(k, "") or "").strip() for k in ("item", "by", "note"))
        if not item_id or not by or not note:
            raise AttestationsFileError(f"{where}: item, by and note must all be non-empty")
        date = _as_date(entry.get("date"))
        if date is None:
            raise AttestationsFileError(f"{where}: item {item_id}: date must be YYYY-MM-DD")
        expires = None
        if entry.get("expires") is not None:
            expires = _as_date(entry["expires"])
            if expires is None:
                raise AttestationsFileError(f"{where}: item {item_id}: expires must be YYYY-MM-DD")
        if item_id in out:
            raise AttestationsFileError(f"{where}: item {item_id} is attested twice")
        out[item_id] = Attestation(item_id, by, note, date, expires)
    return out


def dump(attestations: dict[str, Attestation]) -> str:
    """The file text for ``attestations``, sorted by item id."""

    def key(item_id: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else 0 for p in item_id.split("."))

    entries = [attestations[k].to_data() for k in sorted(attestations, key=key)]
    body = yaml.safe_dump({"schema": SCHEMA, "attestations": entries}, sort_keys=False, allow_unicode=True)
    return _HEADER + body


def attest(
    root: Path,
    checklist: Checklist,
    item_id: str,
    *,
    by: str,
    note: str,
    expires: str | None = None,
    today: dt.date | None = None,
) -> AttestResult:
    """Record (or replace) the attestation of ``item_id`` in the project at ``root``."""
    today = today or dt.date.today()
    item = find_item(checklist, item_id)
    if not by.strip():
        raise AttestationInputError("--by is empty", hint="name the person who vouches for the item")
    if not note.strip():
        raise AttestationInputError("--note is empty", hint="say what was done and where the proof is")
    until = parse_date(expires, "--expires") if expires is not None else None
    if until is not None and until < today:
        raise AttestationInputError(
            f"--expires {until.isoformat()} is in the past", hint=f"give a date from {today.isoformat()} on"
        )
    current = load(root)
    entry = Attestation(item.id, by.strip(), " ".join(note.split()), today, until)
    replaced = current.get(item.id)
    current[item.id] = entry
    notes: list[str] = []
    if not item.human:
        notes.append(
            f"{item.id} is not a human item: its evidence is checked by `msmvp status`, and this attestation "
            "makes it count as done even when that evidence fails"
        )
    from msmvp import _apply

    path = root / ATTESTATIONS
    _apply.apply(root, [_apply.Write(ATTESTATIONS, dump(current).encode())], operation=f"attest {item.id}")
    return AttestResult(path, entry, item, replaced, tuple(notes))


def record(
    root: Path,
    item_id: str,
    *,
    by: str,
    note: str,
    expires: str | None = None,
    checklist_path: Path | None = None,
    today: dt.date | None = None,
) -> AttestResult:
    """``msmvp attest``: attest ``item_id`` against the checklist the project at ``root`` uses."""
    from msmvp.status import load_project

    checklist = load_project(root, checklist_path).checklist
    return attest(root, checklist, item_id, by=by, note=note, expires=expires, today=today)
