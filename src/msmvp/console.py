"""All terminal output. The only module that imports rich: messages go to stderr, results to stdout."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.text import Text

if TYPE_CHECKING:
    from msmvp.api import NewResult
    from msmvp.checklist import Checklist
    from msmvp.choices import NotGenerated
    from msmvp.evidence import ItemResult
    from msmvp.grow import Resolved
    from msmvp.options import Axis
    from msmvp.regen import Outcome

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

PRIORITY_STYLE = {"critical": "bold red", "high": "yellow", "medium": "cyan"}


def error(message: str, hint: str = "") -> None:
    """One red line, then the hint, on stderr."""
    line = Text("error: ", style="bold red") + Text(message)
    if hint:
        line += Text(f" (hint: {hint})", style="dim")
    err.print(line)


def info(message: str) -> None:
    err.print(message)


def aborted() -> None:
    """End of input where a command expected more, said as typer says it."""
    err.print()
    err.print("Aborted.", style="red")


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def ask_choice(axis: Axis, values: Sequence[str], default: str) -> str:
    """One option's question, on stderr; the answer is checked by the caller."""
    from rich.prompt import Prompt

    shown = "/".join(values)
    return Prompt.ask(f"[bold]{axis.name}[/] — {axis.help} [magenta]\\[{shown}][/]", default=default, console=err)


def decided(axis: Axis, value: str, excluded: Mapping[str, str]) -> None:
    """An option with one possible value is not asked: say what it is and why."""
    why = "; ".join(f"{v}: {reason}" for v, reason in excluded.items())
    err.print(f"[bold]{axis.name}[/] — {axis.help}: [green]{value}[/]" + (f" [dim]({why})[/]" if why else ""))


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _item_order(item_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in item_id.split("."))


class NewReporter:
    """Ticks checklist items as ``new`` writes the files that satisfy them; they are printed in
    checklist order once the last file is written (writing takes milliseconds)."""

    def __init__(self) -> None:
        self.files = 0
        self.done: list[ItemResult] = []

    def file_written(self, path: str) -> None:
        self.files += 1

    def item_done(self, result: ItemResult) -> None:
        self.done.append(result)

    def print_ticks(self) -> None:
        lines = []
        for result in sorted(self.done, key=lambda r: _item_order(r.item.id)):
            item = result.item
            mark = "[yellow]◐[/]" if item.human else "[green]✓[/]"
            lines.append(f"  {mark} {item.id:<5} {escape(item.title)} [dim]({_files(len(result.files))})[/]")
        if lines:
            err.print("\n".join(lines))  # one print: rich's per-call cost times 50 items showed
        self.done.clear()


def new_summary(result: NewResult, missing: Sequence[NotGenerated] = ()) -> None:
    """Counts, the applicable items not generated and why, where the project is and what next."""
    applicable = [r for r in result.items if r.applicable]
    scaffolded = [r for r in applicable if r.scaffolded and not r.item.human]
    human = [r for r in applicable if r.item.human]
    na = [r for r in result.items if not r.applicable]
    err.print(
        f"\n[bold]{len(scaffolded)}[/] items scaffolded, [bold]{len(human)}[/] need a human"
        f" (`msmvp attest`), [bold]{len(na)}[/] not applicable"
        + (f", [bold red]{len(missing)}[/] not generated:" if missing else "")
    )
    for gap in missing:
        err.print(f"  [red]✗[/] {gap.id:<5} {gap.title}")
        for reason in gap.reasons:
            err.print(f"          [dim]{escape(reason)}[/]")
    where = result.target
    err.print(
        f"[green]Created[/] {where} ({_files(len(result.files))}"
        + (f", commit {result.commit[:8]})" if result.commit else ")")
    )
    err.print(f"Next: cd {where} && make install && make dev")


def defaulted(names: Sequence[str], options: dict[str, str]) -> None:
    if names:
        err.print("[dim]defaults used: " + ", ".join(f"{n}={options[n]}" for n in names) + "[/]")


def print_plan(result: NewResult) -> None:
    """The file plan of a dry run, on stdout: path, size, items."""
    from rich.table import Table  # only tables need it: every run prints, few print one

    table = Table(title=f"{result.target} (dry run: nothing written)", show_lines=False)
    table.add_column("file")
    table.add_column("bytes", justify="right")
    table.add_column("checklist items")
    for f in result.files:
        table.add_row(f.path, str(len(f.content)), " ".join(f.items))
    out.print(table)


def checklist_table(checklist: Checklist) -> None:
    from rich.table import Table

    for phase, title in sorted(checklist.phases.items()):
        table = Table(title=f"Phase {phase}: {title}", title_justify="left", expand=False)
        table.add_column("id")
        table.add_column("title")
        table.add_column("priority")
        table.add_column("effort", justify="right")
        table.add_column("generated by")
        for item in (i for i in checklist.items if i.phase == phase):
            gen = item.generated_by[0].what if item.generated_by else (item.not_generated or "")
            prio = f"[{PRIORITY_STYLE[item.priority]}]{item.priority}[/]"
            human = " [yellow](human)[/]" if item.human else ""
            table.add_row(item.id, item.title + human, prio, f"{item.effort_days:g} d", gen)
        out.print(table)
    total = sum(i.effort_days for i in checklist.items)
    out.print(f"{len(checklist.items)} items, {total:g} days of effort in all ({checklist.source})")


def validated(checklist: Checklist) -> None:
    out.print(f"[green]ok[/] {checklist.source}: {len(checklist.items)} items in {len(checklist.phases)} phases")


_ACTION_STYLE = {
    "create": ("created", "green"),
    "update": ("updated", "green"),
    "merge": ("merged", "cyan"),
    "conflict": ("CONFLICT", "bold red"),
    "blocked": ("CONFLICT", "bold red"),
    "delete": ("deleted", "yellow"),
    "kept": ("kept", "yellow"),
    "skip-deleted": ("skipped", "dim"),
}


def regen_report(outcome: Outcome) -> None:
    """What a regeneration did (or would do), one line a path that matters."""
    plan = outcome.plan
    if plan.noop:
        err.print("Nothing to do: the project is already up to date.")
        return
    for change in plan.changes:
        if change.action not in _ACTION_STYLE:
            continue
        label, style = _ACTION_STYLE[change.action]
        note = f" [dim]({change.note})[/]" if change.note else ""
        err.print(f"  [{style}]{label:<9}[/] {change.path}{note}")
    if outcome.dry_run:
        return
    if outcome.newly_done:
        err.print("Checklist items now scaffolded: " + ", ".join(outcome.newly_done))
    if outcome.commit:
        err.print(f"[green]Committed[/] {outcome.commit[:8]}")


def regen_diff(outcome: Outcome) -> None:
    """The unified diff a dry run would apply, on stdout."""
    import difflib

    # msmvp.yaml and the domain history first: the change asked for, then what follows from it.
    shown: list[tuple[str, bytes | None, bytes | None, bool]] = [(p, b, a, True) for p, b, a in outcome.plan.meta]
    for change in outcome.plan.changes:
        if change.action in ("create", "update", "merge", "conflict", "delete"):
            shown.append((change.path, change.before, change.after, change.action != "delete"))
    for path, before_bytes, after_bytes, kept in shown:
        before = (before_bytes or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        after = (after_bytes or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        old = f"a/{path}" if before_bytes is not None else "/dev/null"
        new = f"b/{path}" if kept else "/dev/null"
        out.print("".join(difflib.unified_diff(before, after, old, new)), end="", markup=False)
    err.print("[dim](dry run: nothing written)[/]")


def conflicts_summary(outcome: Outcome) -> None:
    paths = [c.path for c in outcome.plan.conflicts]
    error(f"{len(paths)} conflict(s) to resolve: {', '.join(paths)}", outcome.conflict_hint)


def resolved(done: Resolved) -> None:
    """What ``msmvp resolve`` decided."""
    where = f" (through the symlink, in {done.target})" if done.target != done.path else ""
    if done.choice == "mine":
        what = "your version is back in place" if done.wrote else "your file is kept as it is"
        err.print(
            f"[green]Resolved[/] {done.path}: {what}{where}; later runs keep it and merge msmvp's changes into it"
        )
    else:
        err.print(f"[green]Resolved[/] {done.path}: replaced by msmvp's version{where}")
    if done.staged:
        err.print("Staged it and .msmvp/provenance.json: commit when ready (`git add -A && git commit`).")
