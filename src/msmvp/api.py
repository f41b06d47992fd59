"""The core operations behind the CLI. Nothing here prints: results and events are returned
or passed to a reporter callback."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from msmvp import __version__, _apply, evidence, migrations, pipeline, provenance, render
from msmvp import checklist as checklist_mod
from msmvp import options as options_mod
from msmvp._apply import check_target
from msmvp.errors import ChecklistError
from msmvp.manifest import MANIFEST, Manifest, Service, load_answers, parse_services
from msmvp.names import check_name

DEFAULT_SERVICES = "users,orders"
CUSTOM_CHECKLIST = ".msmvp/checklist.yaml"


@dataclass
class NewResult:
    """What ``new`` planned (and, unless a dry run, wrote)."""

    target: Path
    manifest: Manifest
    files: list[render.PlannedFile]
    items: list[evidence.ItemResult]
    defaulted: list[str] = field(default_factory=list)
    commit: str | None = None
    dry_run: bool = False
    recovered: _apply.Recovery | None = None  # what an earlier, killed `new` into this folder left, undone
    interrupted: bool = False  # Ctrl-C came past the point of no return: the project was finished


class Reporter(Protocol):
    """Receives progress events while ``new`` writes files."""

    def file_written(self, path: str) -> None:
        """A file of the plan is on disk."""

    def item_done(self, result: evidence.ItemResult) -> None:
        """Every file an item's evidence names has been written."""


class _Silent:
    def file_written(self, path: str) -> None:
        pass

    def item_done(self, result: evidence.ItemResult) -> None:
        pass


def build_manifest(
    name: str,
    *,
    services: str | None = None,
    options: Mapping[str, str | None] | None = None,
    answers: Path | None = None,
    checklist: str | None = None,
) -> tuple[Manifest, list[str]]:
    """Merge defaults < answers file < explicit flags into a validated manifest.

    Returns the manifest and the axes that took their default because nobody answered them.
    """
    check_name(name, "project")
    base = load_answers(answers) if answers else Manifest(name=name)
    chosen = {k: v for k, v in base.options.items()}
    chosen.update({k: v for k, v in (options or {}).items() if v is not None})
    resolved = options_mod.validate(chosen)
    defaulted = [a.name for a in options_mod.AXES if a.name not in chosen]
    if services is not None:
        service_list: list[Service] = parse_services(services)
    elif base.services:
        service_list = base.services
    else:
        service_list = parse_services(DEFAULT_SERVICES)
    manifest = Manifest(
        name=name,
        checklist=checklist or base.checklist,
        options=resolved,
        services=service_list,
    )
    return manifest, defaulted


def plan(
    manifest: Manifest, checklist: checklist_mod.Checklist
) -> tuple[list[render.PlannedFile], list[evidence.ItemResult]]:
    """Render the project and evaluate the checklist against the rendered files."""
    generation = pipeline.generate(manifest, checklist)
    return generation.files, generation.results


def new_project(
    name: str,
    *,
    output_dir: Path = Path("."),
    target: Path | None = None,
    services: str | None = None,
    options: Mapping[str, str | None] | None = None,
    answers: Path | None = None,
    checklist: Path | None = None,
    git: bool = True,
    dry_run: bool = False,
    reporter: Reporter | None = None,
) -> NewResult:
    """Create a project: validate everything, render in memory, then write it in one transaction."""
    reporter = reporter or _Silent()
    manifest, defaulted = build_manifest(
        name,
        services=services,
        options=options,
        answers=answers,
        checklist=CUSTOM_CHECKLIST if checklist else None,
    )
    manifest.check_domain()  # the options given on the command line too
    target = target if target is not None else output_dir / name
    recovered = None if dry_run else _apply.recover(target)  # a `new` killed half way left its journal here
    check_target(target)
    if checklist is not None:
        loaded = checklist_mod.load(checklist)
    elif manifest.checklist != "builtin":
        raise ChecklistError(f"the answers name checklist {manifest.checklist!r}", hint="pass it with --checklist FILE")
    else:
        loaded = checklist_mod.load()
    generation = pipeline.generate(manifest, loaded)
    files, results = generation.files, generation.results
    result = NewResult(target, manifest, files, results, defaulted, dry_run=dry_run, recovered=recovered)
    if dry_run:
        return result

    extra = {
        MANIFEST: manifest.to_yaml().encode(),
        provenance.PROVENANCE: generation.provenance(),
        migrations.HISTORY: migrations.History.initial(manifest).dump(),
    }
    if checklist is not None:
        extra[CUSTOM_CHECKLIST] = checklist.read_bytes()
    writes = [_apply.Write(f.path, f.content, f.executable) for f in files]
    writes += [_apply.Write(path, content) for path, content in extra.items()]
    commit = None
    if git:
        committed = {f.path: (f.content, f.executable) for f in files}
        committed.update({path: (content, False) for path, content in extra.items()})
        commit = _apply.CommitSpec(f"Generate {name} with msmvp {__version__}", committed, init=True)
    applied = _apply.apply(
        target, writes, operation=f"new {name}", commit=commit, create_root=True, progress=_ticker(results, reporter)
    )
    result.commit = applied.commit
    result.interrupted = applied.interrupted
    return result


def _ticker(results: list[evidence.ItemResult], reporter: Reporter) -> Callable[[str], None]:
    """Tell the reporter of each file, and of each item once the last file its evidence names is written."""
    remaining = {r.item.id: set(r.files) for r in results if r.scaffolded}
    waiting: dict[str, list[str]] = {}
    for item_id, paths in remaining.items():
        for p in paths:
            waiting.setdefault(p, []).append(item_id)
    by_id = {r.item.id: r for r in results}

    def written(path: str) -> None:
        if path in (MANIFEST, provenance.PROVENANCE, CUSTOM_CHECKLIST, migrations.HISTORY):
            return
        reporter.file_written(path)
        for item_id in waiting.get(path, ()):
            remaining[item_id].discard(path)
            if not remaining[item_id]:
                reporter.item_done(by_id[item_id])

    return written
