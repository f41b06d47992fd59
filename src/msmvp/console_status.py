"""Terminal output of ``msmvp status`` and ``msmvp attest`` (with ``console``, the only modules importing rich)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from msmvp.console import PRIORITY_STYLE, err, out

if TYPE_CHECKING:
    from msmvp.attest import AttestResult
    from msmvp.status import GateResult, ItemStatus, StatusReport

LEVEL_STYLE = {
    "n/a": "dim",
    "missing": "bold red",
    "present": "yellow",
    "configured": "cyan",
    "verified": "bold green",
    "attested": "bold magenta",
}
FILE_STYLE = {
    "generated-untouched": "green",
    "modified": "yellow",
    "deleted": "bold red",
    "not-generated": "cyan",
    "absent": "red",
    "unknown": "dim",
}
OUTCOME_STYLE = {"passed": "green", "failed": "bold red", "timeout": "red", "not installed": "yellow", "not run": "dim"}


def _level(level: str) -> Text:
    return Text(level, style=LEVEL_STYLE.get(level, ""))


def _level_with_target(s: ItemStatus) -> Text:
    """The level reached, and for an item not done the level it still needs (dim)."""
    from msmvp.report import level_target

    text = _level(s.level)
    if target := level_target(s):
        text.append(f"\n→ {target}", style="dim")  # on a line of its own: the column stays narrow
    return text


def _why(s: ItemStatus) -> str:
    if not s.applicable:
        return s.reason
    if s.attestation is not None:
        return f"attested by {s.attestation.by} on {s.attestation.date.isoformat()}"
    if s.done:
        return ""
    from msmvp.report import _problem

    return _problem(s)


def _phase_table(report: StatusReport, phase: int) -> Table:
    table = Table(show_header=True, header_style="dim", expand=False, box=None, pad_edge=False)
    table.add_column("", width=1)
    table.add_column("id", style="bold")
    # Fixed columns never truncate (a "critic…" priority helps nobody); title and reason wrap.
    table.add_column("item", overflow="fold", ratio=2)
    table.add_column("priority", no_wrap=True, min_width=8)
    table.add_column("effort", justify="right", no_wrap=True, min_width=5)
    table.add_column("level", no_wrap=True, min_width=10)
    table.add_column("why", style="dim", overflow="fold", ratio=1, max_width=70)
    for s in (s for s in report.items if s.item.phase == phase):
        mark = (
            Text("✓", style="green") if s.done else (Text("·", style="dim") if not s.applicable else Text("✗", "red"))
        )
        table.add_row(
            mark,
            s.id,
            s.item.title + (" (human)" if s.item.human else ""),
            Text(s.item.priority, style=PRIORITY_STYLE[s.item.priority]),
            f"{s.item.effort_days:g} d",
            _level_with_target(s),
            _why(s),
        )
    return table


def render_table(report: StatusReport, console: Console) -> None:
    """The default view: phases with a progress bar each, the items, the score and what to do next."""
    console.print(
        Text.assemble(("msmvp status ", "bold"), (report.project, "bold cyan"), f" · checklist {report.checklist.name}")
    )
    for phase in report.phases:
        head = Table.grid(padding=(0, 1))
        head.add_column(min_width=40)
        head.add_column(width=30)
        head.add_column()
        head.add_row(
            Text(f"Phase {phase.phase}: {phase.title}", style="bold"),
            ProgressBar(total=100, completed=phase.score, width=30),
            f"{phase.score:5.1f}%  {phase.done}/{phase.applicable} done",
        )
        console.print()
        console.print(Group(head, _phase_table(report, phase.phase)))
    console.print()
    counts = report.counts()
    summary = Text.assemble(
        ("Score ", "bold"),
        (f"{report.score:g}%", "bold green" if report.score >= 80 else "bold yellow"),
        " (weighted: critical 3, high 2, medium 1) · ",
        ("MVP-ready", "bold green") if report.mvp_ready else ("not MVP-ready", "bold yellow"),
        f" · {report.remaining_days:g} days of effort left",
    )
    console.print(summary)
    console.print(
        Text(" · ".join(f"{n} {level}" for level, n in counts.items() if n), style="dim"),
    )
    if report.next_items:
        console.print(Text("Next:", style="bold"))
        for s in report.next_items:
            console.print(
                Text.assemble(
                    f"  {s.id:<5} ",
                    (s.item.title, "bold"),
                    " ",
                    (s.item.priority, PRIORITY_STYLE[s.item.priority]),
                    f", {s.remaining_days:g} d left — ",
                    (s.remediation, "dim"),
                )
            )
    if report.domain.services:
        console.print()
        console.print(Text.assemble(("Domain", "bold"), ("  (the diagrams: msmvp status --domain)", "dim")))
        width = max(len(s.name) for s in report.domain.services)
        for svc in report.domain.services:
            console.print(f"  {svc.name:<{width}}  {svc.describe()}", markup=False, highlight=False)
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))


def status_table(report: StatusReport) -> None:
    render_table(report, out)


def write_table(report: StatusReport, path: Path) -> None:
    """The table view as plain text into ``path``."""
    with path.open("w", encoding="utf-8") as fh:
        render_table(report, Console(file=fh, width=140, color_system=None, highlight=False, soft_wrap=False))


def explain(report: StatusReport, s: ItemStatus) -> None:
    """``--explain ID``: the item, each check, the files with their provenance state, and what to do."""
    item = s.item
    out.print(
        Text.assemble(
            (f"{item.id} {item.title}", "bold"),
            "  ",
            (item.priority, PRIORITY_STYLE[item.priority]),
            f" · {item.effort_days:g} d · phase {item.phase}: {report.checklist.phases[item.phase]}",
            " · human" if item.human else "",
        )
    )
    out.print(Text(" ".join(item.description.split()), style="dim"))
    out.print(Text.assemble("level: ", _level(s.level), ("  (done)" if s.done else f"  (done at: {s.top})")))
    if not s.applicable:
        out.print(f"not applicable: {escape(s.reason)}")
        return
    if s.checks:
        out.print(Text("checks:", style="bold"))
        for c in s.checks:
            mark = Text("  ✓ ", style="green") if c.ok else Text("  ✗ ", style="red")
            line = mark + Text(f"{c.level:<10} {c.spec}")
            if c.detail:
                line += Text(f" — {c.detail}", style="dim" if c.ok else "red")
            out.print(line)
    else:
        out.print("checks: none (the checklist gives no evidence for this item with these options)")
    if s.commands:
        out.print(Text("commands:", style="bold"))
        for cmd in s.commands:
            out.print(
                Text.assemble(
                    "  ",
                    (cmd.outcome, OUTCOME_STYLE.get(cmd.outcome, "")),
                    f" `{cmd.command}`",
                    (f" ({cmd.seconds:.1f} s, timeout {cmd.timeout} s)", "dim"),
                )
            )
            if cmd.outcome in ("failed", "timeout") and cmd.output:
                out.print(Text("    " + "\n    ".join(cmd.output.strip().splitlines()[-12:]), style="dim"))
    elif item.evidence.verified:
        out.print(Text("commands: not run (pass --verify)", style="dim"))
    if s.files:
        out.print(Text("files:", style="bold"))
        for f in s.files:
            out.print(Text.assemble(f"  {f.path} ", (f.state, FILE_STYLE.get(f.state, ""))))
    if s.attestation is not None:
        a = s.attestation
        until = f", until {a.expires.isoformat()}" if a.expires else ""
        out.print(f"attested by {escape(a.by)} on {a.date.isoformat()}{until}: {escape(a.note)}")
    if s.expired is not None and s.expired.expires is not None:
        out.print(
            Text(f"attestation by {s.expired.by} expired on {s.expired.expires.isoformat()}: no longer counts", "red")
        )
    if s.remediation:
        out.print(Text.assemble(("to do: ", "bold"), s.remediation))


def gate_failed(result: GateResult) -> None:
    for reason in result.reasons:
        err.print(Text.assemble(("gate failed: ", "bold red"), reason))


def report_written(path: Path, fmt: str) -> None:
    err.print(f"[green]wrote[/] {escape(str(path))} ({fmt})")


def attested(result: AttestResult) -> None:
    a = result.attestation
    verb = "updated" if result.replaced is not None else "recorded"
    until = f" until {a.expires.isoformat()}" if a.expires else ""
    err.print(
        f"[green]{verb}[/] attestation of {a.item} {escape(result.item.title)} by {escape(a.by)}{until}"
        f" in {escape(str(result.path))}"
    )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    err.print("[dim]commit the file so the attestation is reviewed like code[/]")


def raw(text: str) -> None:
    """A rendered report on stdout, byte for byte (no markup, no wrapping)."""
    import sys

    sys.stdout.write(text)
    sys.stdout.flush()
