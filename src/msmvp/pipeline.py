"""The one pipeline: manifest → plan (render) → checklist evaluation → provenance.

``msmvp new``, ``add-service``, ``remove-service``, ``upgrade`` and ``resolve`` all call
:func:`generate`; what they do with the result (write a new tree, or merge it into an existing
one) is theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from msmvp import __version__, evidence, migrations, provenance, render
from msmvp.checklist import Checklist
from msmvp.manifest import Manifest
from msmvp.provenance import Provenance, Record


@dataclass(frozen=True)
class Generation:
    """Everything msmvp generates for a manifest, before anything is written."""

    manifest: Manifest
    files: list[render.PlannedFile]  # each with the checklist items its evidence names
    results: list[evidence.ItemResult]  # empty from :func:`regenerate`, which evaluates nothing
    by_file: dict[str, list[str]]
    # Generated files not rendered again (their folder's inputs are unchanged), with their last
    # records; and the service folders' input fingerprints (render.Rendered).
    reused: Mapping[str, Record] = field(default_factory=dict)
    targets: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def rendered(self) -> dict[str, bytes]:
        return {f.path: f.content for f in self.files}

    def provenance(self, keep: Mapping[str, Record | None] | None = None) -> bytes:
        """The provenance record of these files (``keep``: records carried over, see provenance.build)."""
        inputs = self.manifest.model_dump(mode="json")
        return provenance.build(
            self.files, self.by_file, __version__, inputs, keep, reused=self.reused, targets=self.targets
        )

    def record(self, path: str) -> Record | None:
        for f in self.files:
            if f.path == path:
                return provenance.record_of(f, self.by_file.get(path, []))
        return None


def generate(manifest: Manifest, checklist: Checklist, history: migrations.History | None = None) -> Generation:
    """Render the project for ``manifest`` (and its domain ``history``) and evaluate ``checklist``
    against the rendered files."""
    rendered = render.render_project(manifest, history=history)
    source = evidence.MemorySource({f.path: f.content for f in rendered.files})
    results = evidence.evaluate_all(checklist, manifest.options, manifest.service_contexts(), source)
    return _generation(manifest, rendered, results, evidence.items_by_file(results))


def regenerate(
    manifest: Manifest,
    checklist: Checklist,
    previous: Provenance | None,
    root: Path,
    history: migrations.History | None = None,
) -> Generation:
    """What :func:`generate` gives a regeneration of ``root``, rendering only the service folders
    whose inputs changed since ``previous`` (the others are ``reused``). The checklist is not
    evaluated: only which files each item's evidence names, which needs no file's content."""
    rendered = render.render_project(manifest, previous, root, history)
    paths = sorted([f.path for f in rendered.files] + list(rendered.reused))
    by_file = evidence.items_by_path(checklist, manifest.options, manifest.service_contexts(), paths)
    return _generation(manifest, rendered, [], by_file)


def _generation(
    manifest: Manifest, rendered: render.Rendered, results: list[evidence.ItemResult], by_file: dict[str, list[str]]
) -> Generation:
    files = [
        render.PlannedFile(f.path, f.content, f.template, f.executable, tuple(by_file.get(f.path, ())))
        for f in rendered.files
    ]
    return Generation(manifest, files, results, by_file, rendered.reused, rendered.targets)


def render_map(manifest: Manifest, history: migrations.History | None = None) -> dict[str, bytes]:
    """Only the rendered contents (the base of a three-way merge)."""
    return {f.path: f.content for f in render.render(manifest, history)}
