"""`msmvp status` marks each item the same way in the terminal and in the HTML report, and an item
whose commands were not run never looks finished."""

from __future__ import annotations

import re
from pathlib import Path

from .helpers import msmvp


def _terminal_marks(project: Path) -> dict[str, str]:
    code, out, _ = msmvp(project, "status")
    assert code == 0
    return dict((item, mark) for mark, item in re.findall(r"^([✓✗·])\s+(\d+\.\d+)\s", out, re.M))


def test_html_rows_carry_the_terminal_marks_and_no_markdown(default_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "status.html"
    assert msmvp(default_project, "status", "--format", "html", "--output", str(out))[0] == 0
    page = out.read_text()
    assert "`" not in page  # inline code is <code>, not literal backticks
    assert "<code>msmvp attest</code>" in page
    rows = re.findall(
        r'<tr id="item-([\d.]+)" class="(\w+)" data-level="[^"]+" data-done="(\w+)"><td class="mark">(.)</td>', page
    )
    assert len(rows) == 50
    terminal = _terminal_marks(default_project)
    assert len(terminal) == 50
    for item, css, done, mark in rows:
        assert mark == terminal[item], item
        assert (css, done) == {"✓": ("done", "true"), "✗": ("todo", "false"), "·": ("na", "false")}[mark], item


def test_an_item_whose_commands_were_not_run_is_not_done_and_says_what_it_needs(
    default_project: Path, tmp_path: Path
) -> None:
    # 1.3 names commands (contract checks): without --verify they were not run.
    assert _terminal_marks(default_project)["1.3"] == "✗"
    _, table, _ = msmvp(default_project, "status")
    row = table[table.index("1.3 ") :].split("\n", 2)
    assert "commands not run" in row[0] and "→ verified" in row[1], row
    out = tmp_path / "status.html"
    msmvp(default_project, "status", "--format", "html", "--output", str(out))
    html_row = re.search(r'<tr id="item-1\.3".*?</tr>', out.read_text())
    assert html_row and 'class="todo"' in html_row.group(0) and "→ verified" in html_row.group(0)
