"""Checklist coverage of a repository, from the evidence in it as it is now.

Each item gets one level:

``n/a``        the project's options make it not applicable (the reason says which option);
``missing``    its ``present`` evidence does not hold (or it has no evidence at all);
``present``    the files it names exist;
``configured`` their content checks hold too;
``verified``   its commands passed as well (only with ``verify=True``, which runs them);
``attested``   a person vouched for it in ``.msmvp/attestations.yaml`` (and it has not expired).

An item is *done* when it is attested, or, for an item that is not ``human``, when it reached the
strongest level its evidence defines (``verified`` when it names commands, else ``configured``).

Score: the mean of each applicable item's credit weighted by priority (critical 3, high 2,
medium 1), as a percentage. Credit: a done item 1; otherwise missing 0, present 1/3,
configured 2/3 (also for a human item whose commands passed but which nobody attested).
Remaining effort: the sum over applicable items of ``effort_days * (1 - credit)``.
MVP-ready: every applicable critical item is done, i.e. verified (or configured when it names no
command) or attested.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msmvp import evidence
from msmvp.attest import Attestation
from msmvp.checklist import PRIORITY_WEIGHT, Checklist, CommandCheck, Item, matches
from msmvp.domain_view import Domain
from msmvp.evidence import CheckResult, DirSource

LEVELS = ("n/a", "missing", "present", "configured", "verified", "attested")
CREDIT: dict[str, float] = {"missing": 0.0, "present": 1 / 3, "configured": 2 / 3, "verified": 1.0, "attested": 1.0}
# Provenance states of a file an item relies on.
FILE_STATES = ("generated-untouched", "modified", "deleted", "not-generated", "absent", "unknown")
PRIORITY_RANK = {"critical": 0, "high": 1, "medium": 2}
_OUTPUT_TAIL = 4000
_GLOB_CHARS = frozenset("*?[")


@dataclass
class CommandResult:
    """One ``verified`` command: passed, failed, timeout, not installed, or not run."""

    command: str
    outcome: str
    returncode: int | None = None
    seconds: float = 0.0
    output: str = ""
    timeout: int = 0


@dataclass
class FileState:
    path: str
    state: str


@dataclass
class ItemStatus:
    """The status of one item, with everything needed to explain it."""

    item: Item
    applicable: bool
    level: str
    evidence_level: str
    reason: str = ""
    top: str = "configured"
    checks: list[CheckResult] = field(default_factory=list)
    commands: list[CommandResult] = field(default_factory=list)
    files: list[FileState] = field(default_factory=list)
    attestation: Attestation | None = None
    expired: Attestation | None = None
    done: bool = False
    credit: float = 0.0
    remaining_days: float = 0.0
    remediation: str = ""

    @property
    def id(self) -> str:
        return self.item.id

    @property
    def weight(self) -> int:
        return PRIORITY_WEIGHT[self.item.priority]

    @property
    def failing(self) -> bool:
        """Applicable and not done: what ``--fail-on`` counts."""
        return self.applicable and not self.done

    @property
    def broken_files(self) -> list[FileState]:
        """Files it needs that are gone, or were edited so that a check on them fails."""
        failed = {f for c in self.checks if not c.ok for f in c.files}
        return [
            f for f in self.files if f.state in ("deleted", "absent") or (f.state == "modified" and f.path in failed)
        ]


@dataclass
class PhaseStatus:
    phase: int
    title: str
    applicable: int
    done: int
    score: float
    remaining_days: float


@dataclass
class StatusReport:
    """The whole status of a project against a checklist."""

    root: Path
    project: str
    checklist: Checklist
    options: dict[str, str]
    options_known: bool
    services: list[str]
    has_manifest: bool
    has_provenance: bool
    verify: bool
    items: list[ItemStatus]
    phases: list[PhaseStatus]
    score: float
    remaining_days: float
    next_items: list[ItemStatus]
    mvp_ready: bool
    notes: list[str]
    today: dt.date
    domain: Domain = field(default_factory=Domain)  # empty without msmvp.yaml

    def item(self, item_id: str) -> ItemStatus:
        from msmvp.attest import find_item

        wanted = find_item(self.checklist, item_id).id
        return next(s for s in self.items if s.id == wanted)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(LEVELS, 0)
        for s in self.items:
            out[s.level] += 1
        return out


# ---------------------------------------------------------------------------- the project


@dataclass
class Project:
    """What status knows about the repo it runs in."""

    root: Path
    name: str
    options: dict[str, str]
    options_known: bool
    services: list[dict[str, Any]]
    has_manifest: bool
    checklist: Checklist
    notes: list[str]
    domain: Domain = field(default_factory=Domain)


def find_root(start: Path) -> Path:
    """The nearest directory from ``start`` upwards holding ``msmvp.yaml``, else ``start``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "msmvp.yaml").is_file():
            return candidate
    return start


def _discover_services(root: Path) -> list[dict[str, Any]]:
    """Services of a repo without ``msmvp.yaml``: each ``services/*/`` folder and its package."""
    base = root / "services"
    if not base.is_dir():
        return []
    out = []
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        module = d.name.replace("-", "_")
        package = f"{module}_service"
        if not (d / package).is_dir():
            packages = sorted(p.name for p in d.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
            packages = [p for p in packages if p not in ("tests", "migrations")]
            package = packages[0] if packages else package
        out.append({"name": d.name, "module": module, "package": package})
    return out


def load_project(root: Path, checklist_path: Path | None = None) -> Project:
    """Read the manifest (if any) and the checklist that applies to the repo at ``root``."""
    from msmvp import checklist as checklist_mod
    from msmvp import manifest as manifest_mod
    from msmvp.options import defaults

    notes: list[str] = []
    has_manifest = (root / manifest_mod.MANIFEST).is_file()
    domain = Domain()
    if has_manifest:
        from msmvp import domain_view
        from msmvp.domain import mermaid

        manifest = manifest_mod.load(root)
        options = dict(manifest.options)
        services: list[dict[str, Any]] = manifest.service_contexts()
        name = manifest.name
        spec = manifest.checklist
        domain = domain_view.from_contexts(services, mermaid(manifest.domain_input()))
    else:
        options = defaults()
        services = _discover_services(root)
        name = root.name
        spec = "builtin"
        notes.append(
            "no msmvp.yaml: the options are unknown, so the defaults decide which items and checks apply "
            f"({', '.join(f'{k}={v}' for k, v in options.items())})"
        )
        found = ", ".join(s["name"] for s in services) or "none"
        notes.append(f"services were discovered from the services/*/ folders: {found}")
    if checklist_path is not None:
        checklist = checklist_mod.load(checklist_path)
    else:
        checklist = checklist_mod.load_named(spec, root)
    return Project(root, name, options, has_manifest, services, has_manifest, checklist, notes, domain)


# ---------------------------------------------------------------------------- commands

Runner = Callable[[CommandCheck, Path], CommandResult]


def _executable(command: str) -> str | None:
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    # Skip leading VAR=value assignments.
    argv = [a for a in argv if not ("=" in a and a.split("=", 1)[0].isidentifier())] or argv
    return argv[0] if argv else None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End every process left in the command's group (a test server it forgot, a timed-out run)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_command(check: CommandCheck, root: Path) -> CommandResult:
    """Run one ``verified`` command in ``root`` with its timeout, capturing its output."""
    exe = _executable(check.run)
    if exe is None:
        return CommandResult(check.run, "failed", None, 0.0, "cannot parse the command line", check.timeout)
    found = shutil.which(exe) if "/" not in exe else (exe if (root / exe).exists() or Path(exe).exists() else None)
    if found is None:
        return CommandResult(check.run, "not installed", None, 0.0, f"{exe}: command not found", check.timeout)
    start = time.perf_counter()
    # Its own process group, so a timeout also ends what the command started (servers, workers).
    proc = subprocess.Popen(  # noqa: S602 - the command comes from the checklist, like a Makefile recipe
        check.run,
        shell=True,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        start_new_session=True,
    )
    try:
        data, _ = proc.communicate(timeout=check.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        data, _ = proc.communicate()
        out = data.decode(errors="replace")[-_OUTPUT_TAIL:]
        return CommandResult(check.run, "timeout", None, time.perf_counter() - start, out, check.timeout)
    finally:
        _kill_group(proc)
    seconds = time.perf_counter() - start
    output = data.decode(errors="replace")[-_OUTPUT_TAIL:]
    outcome = "passed" if proc.returncode == 0 else "failed"
    if proc.returncode == 127 and "not found" in output:
        outcome = "not installed"
    return CommandResult(check.run, outcome, proc.returncode, seconds, output, check.timeout)


# ---------------------------------------------------------------------------- items


def na_reason(item: Item, options: Mapping[str, str], options_known: bool) -> str:
    """Why ``item`` does not apply: the first condition the options fail."""
    for axis, values in item.applies_when.items():
        if options.get(axis) not in values:
            why = f"applies when {axis} is {' or '.join(values)}; here {axis}={options.get(axis)}"
            return why + ("" if options_known else " (assumed: options unknown)")
    return ""


def remediation(item: Item, options: Mapping[str, str], status: ItemStatus | None = None) -> str:
    """What would make the item hold: the option or command that generates it, or what a human does."""
    parts: list[str] = []
    what = item.generator(options)
    if status is not None and status.top == "verified" and status.evidence_level == "configured":
        failed = [c for c in status.commands if c.outcome in ("failed", "timeout")]
        if failed:
            parts.append(
                f"make `{failed[0].command}` pass ({failed[0].outcome}; `--explain {item.id}` shows its output)"
            )
        elif not status.commands:
            runs = ", ".join(f"`{c.run}`" for c in item.evidence.verified if matches(c.when, options))
            parts.append(f"run `msmvp status --verify` to run {runs}")
    if status is not None and status.broken_files:
        deleted = [f.path for f in status.broken_files if f.state == "deleted"]
        modified = [f.path for f in status.broken_files if f.state == "modified"]
        if deleted:
            parts.append(
                f"generated file(s) deleted: {', '.join(deleted[:4])}; restore with `git checkout -- PATH`"
                " (`msmvp upgrade` keeps deletions)"
            )
        if modified:
            parts.append(f"generated file(s) edited since: {', '.join(modified[:4])}; see what changed with `git diff`")
    if what:
        parts.append(f"msmvp generates it with these options: {what}")
    else:
        others = [
            (", ".join(f"{k}={'|'.join(v)}" for k, v in g.when.items()) or "any options", g.what)
            for g in item.generated_by
        ]
        if others:
            parts.append(
                "not generated with these options; msmvp generates it when "
                + "; or when ".join(f"{cond}: {w}" for cond, w in others[:3])
            )
    if item.not_generated:
        parts.append(" ".join(item.not_generated.split()))
    if item.human and "msmvp attest" not in (item.not_generated or ""):
        parts.append(f"once a person has done it: `msmvp attest {item.id} --by NAME --note TEXT`")
    if status is not None and any(c.outcome == "not installed" for c in status.commands):
        parts.append("install the missing tool to let `--verify` run its command")
    return "; ".join(parts) or "see the item's description"


def _top(item: Item, options: Mapping[str, str]) -> str:
    if item.human:
        return "attested"
    for level, checks in (
        ("verified", item.evidence.verified),
        ("configured", item.evidence.configured),
        ("present", item.evidence.present),
    ):
        if any(matches(c.when, options) for c in checks):
            return level
    return "attested"


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class _FileStates:
    """Provenance state of files, each hashed at most once."""

    def __init__(self, root: Path, records: Mapping[str, Any] | None) -> None:
        self.root = root
        self.records = records
        self._cache: dict[str, str] = {}
        self.by_item: dict[str, list[str]] = {}
        for path, rec in (records or {}).items():
            for item_id in rec.items:
                self.by_item.setdefault(item_id, []).append(path)

    def state(self, path: str, exists: bool) -> str:
        if path in self._cache:
            return self._cache[path]
        rec = (self.records or {}).get(path)
        if self.records is None:
            state = "unknown" if exists else "absent"
        elif rec is None:
            state = "not-generated" if exists else "absent"
        elif not exists:
            state = "deleted"
        else:
            state = "generated-untouched" if _sha(self.root / path) == rec.sha256 else "modified"
        self._cache[path] = state
        return state


def _files_of(
    item: Item, checks: Sequence[CheckResult], services: Sequence[Mapping[str, Any]], states: _FileStates
) -> list[FileState]:
    found = {f for c in checks for f in c.files}
    expected: set[str] = set(states.by_item.get(item.id, ()))
    # Concrete paths a failed presence check names, so a never-generated file still shows.
    for c in checks:
        if not c.ok and c.detail.startswith("missing: "):
            expected.update(p for p in c.detail.removeprefix("missing: ").split(", ") if not _GLOB_CHARS & set(p))
    out = [FileState(p, states.state(p, True)) for p in sorted(found)]
    out += [FileState(p, states.state(p, False)) for p in sorted(expected - found) if not (states.root / p).exists()]
    out += [FileState(p, states.state(p, True)) for p in sorted(expected - found) if (states.root / p).exists()]
    return sorted(out, key=lambda f: f.path)


def _evaluate_item(
    item: Item,
    project: Project,
    source: DirSource,
    states: _FileStates,
    attestations: Mapping[str, Attestation],
    today: dt.date,
    run: Runner | None,
    ran: dict[str, CommandResult],
) -> ItemStatus:
    base = evidence.evaluate(item, project.options, project.services, source)
    if not base.applicable:
        return ItemStatus(item, False, "n/a", "n/a", reason=na_reason(item, project.options, project.options_known))
    status = ItemStatus(item, True, base.level, base.level, checks=list(base.checks), top=_top(item, project.options))
    commands = [c for c in item.evidence.verified if matches(c.when, project.options)]
    static_top = "configured" if any(matches(c.when, project.options) for c in item.evidence.configured) else "present"
    if commands and run is not None:
        for c in commands:
            if base.level != static_top:
                result = CommandResult(c.run, "not run", timeout=c.timeout, output="its static evidence does not hold")
            else:
                if c.run not in ran:
                    ran[c.run] = run(c, project.root)
                result = ran[c.run]
            status.commands.append(result)
            status.checks.append(CheckResult("verified", f"`{c.run}`", result.outcome == "passed", [], result.outcome))
        if all(r.outcome == "passed" for r in status.commands):
            status.evidence_level = status.level = "verified"
    status.files = _files_of(item, status.checks, project.services, states)
    att = attestations.get(item.id)
    if att is not None and att.expired(today):
        status.expired = att
    elif att is not None:
        status.attestation = att
        status.level = "attested"
    status.done = status.level == "attested" or (not item.human and status.level == status.top)
    if status.done:
        status.credit = 1.0
    else:
        status.credit = min(CREDIT[status.level], CREDIT["configured"])
    status.remaining_days = round(item.effort_days * (1 - status.credit), 2)
    status.remediation = "" if status.done else remediation(item, project.options, status)
    return status


def _phase(checklist: Checklist, number: int, items: Sequence[ItemStatus]) -> PhaseStatus:
    mine = [s for s in items if s.item.phase == number and s.applicable]
    return PhaseStatus(
        number,
        checklist.phases[number],
        len(mine),
        sum(1 for s in mine if s.done),
        _score(mine),
        round(sum(s.remaining_days for s in mine), 2),
    )


def _score(items: Sequence[ItemStatus]) -> float:
    weights = sum(s.weight for s in items)
    return round(100 * sum(s.weight * s.credit for s in items) / weights, 1) if weights else 100.0


def next_items(items: Sequence[ItemStatus], n: int = 3) -> list[ItemStatus]:
    """The ``n`` applicable items still to do: highest priority first, then least remaining effort."""
    todo = [s for s in items if s.failing]
    order = {s.id: i for i, s in enumerate(items)}
    return sorted(todo, key=lambda s: (PRIORITY_RANK[s.item.priority], s.remaining_days, order[s.id]))[:n]


def compute(
    root: Path,
    *,
    checklist_path: Path | None = None,
    verify: bool = False,
    today: dt.date | None = None,
    runner: Runner | None = None,
    verify_only: str | None = None,
) -> StatusReport:
    """The status of the repo at ``root``; ``verify`` runs each item's commands (``runner`` to replace that).

    ``verify_only`` limits the commands run to one item (``--explain ID --verify``).
    """
    from msmvp import attest, provenance

    today = today or dt.date.today()
    project = load_project(root, checklist_path)
    records = provenance.load(root)
    notes = list(project.notes)
    if records is None:
        notes.append("no .msmvp/provenance.json: files cannot be told apart as generated, modified or user-written")
    if not verify:
        notes.append("commands were not run: pass --verify to reach `verified`")
    attestations = attest.load(root)
    source = DirSource(root, keep_reads=not verify)  # nothing runs between reads unless verifying
    states = _FileStates(root, records)
    ran: dict[str, CommandResult] = {}
    run = (runner or run_command) if verify else None
    items = [
        _evaluate_item(
            item, project, source, states, attestations, today, run if verify_only in (None, item.id) else None, ran
        )
        for item in project.checklist.items
    ]
    applicable = [s for s in items if s.applicable]
    not_installed = sorted({r.command for r in ran.values() if r.outcome == "not installed"})
    if not_installed:
        notes.append(f"not installed, so not verified: {', '.join(not_installed)}")
    expired = [s.id for s in items if s.expired is not None]
    if expired:
        notes.append(f"expired attestations no longer count: {', '.join(expired)}")
    critical = [s for s in applicable if s.item.priority == "critical"]
    return StatusReport(
        root=root,
        project=project.name,
        checklist=project.checklist,
        options=project.options,
        options_known=project.options_known,
        services=[s["name"] for s in project.services],
        has_manifest=project.has_manifest,
        has_provenance=records is not None,
        verify=verify,
        items=items,
        phases=[_phase(project.checklist, n, items) for n in sorted(project.checklist.phases)],
        score=_score(applicable),
        remaining_days=round(sum(s.remaining_days for s in applicable), 1),
        next_items=next_items(items),
        mvp_ready=bool(critical) and all(s.done for s in critical),
        notes=notes,
        today=today,
        domain=project.domain,
    )


# ---------------------------------------------------------------------------- gates

EXIT_SCORE = 3
EXIT_PRIORITY = 4
EXIT_BOTH = 5


@dataclass
class GateResult:
    """Which gates failed, why, and the exit code that says so (0 when none)."""

    exit_code: int
    reasons: list[str]


def gate(report: StatusReport, *, fail_under: float | None = None, fail_on: str | None = None) -> GateResult:
    """Apply the CI gates: ``fail_under`` a score, ``fail_on`` items of a priority (or higher) not done."""
    reasons: list[str] = []
    score_failed = fail_under is not None and report.score < fail_under
    if score_failed:
        reasons.append(f"score {report.score:g} is below --fail-under {fail_under:g}")
    failing: list[ItemStatus] = []
    if fail_on is not None:
        limit = PRIORITY_RANK[fail_on]
        failing = [s for s in report.items if s.failing and PRIORITY_RANK[s.item.priority] <= limit]
        if failing:
            reasons.append(
                f"{len(failing)} {fail_on}{' or critical' if fail_on == 'high' else ''} item(s) not done: "
                + ", ".join(f"{s.id} ({s.level})" for s in failing)
            )
    code = 0
    if score_failed and failing:
        code = EXIT_BOTH
    elif score_failed:
        code = EXIT_SCORE
    elif failing:
        code = EXIT_PRIORITY
    return GateResult(code, reasons)


def resolve_item_id(root: Path, checklist_path: Path | None, item_id: str) -> str:
    """The id of ``item_id`` in the project's checklist, or :class:`UnknownItemError`."""
    from msmvp.attest import find_item

    return find_item(load_project(root, checklist_path).checklist, item_id).id
