"""The README's option table is the option model, as the user sees it."""

from __future__ import annotations

import re
from pathlib import Path

from msmvp import options

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `--(?P<axis>[a-z]+)` \| (?P<values>[^|]+) \| (?P<built>[^|]+) \|$", re.MULTILINE)


def test_option_table_matches_the_option_model() -> None:
    rows = {m["axis"]: m for m in ROW.finditer(README.read_text(encoding="utf-8"))}
    assert list(rows) == [a.name for a in options.AXES]
    for axis in options.AXES:
        row = rows[axis.name]
        assert [v.strip() for v in row["values"].split(",")] == list(axis.values), axis.name
        built = row["built"].strip()
        shown = set(axis.values) if built == "all" else {v.strip() for v in built.split(",")}
        assert shown == set(axis.built), axis.name
