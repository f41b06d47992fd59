"""The one pipeline: manifest → plan (render) → checklist evaluation → provenance.

``msmvp new``, ``add-service``, ``remove-service``, ``upgrade`` and ``resolve`` all call
:func:`generate`; what they do with the result (write a new tree, or merge it into an existing
one) is theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from msmvp import __version__, evidence, provenance, render
from msmvp.checklist import Checklist
from msmvp.manifest import Manifest
from msmvp.provenance import Record


@dataclass(frozen=True)
class Generation:
    """Everything msmvp generates for a manifest, before anything is written."""

    manifest: Manifest
    files: list[render.PlannedFile]  # each with the checklist items its evidence names
    results: list[evidence.ItemResult]
    by_file: dict[str, list[str]]

    @cached_property
    def rendered(self) -> dict[str, bytes]:
        return {f.path: f.content for f in self.files}

    def provenance(self, keep: Mapping[str, Record | None] | None = None) -> bytes:
        """The provenance record of these files (``keep``: records carried over, see provenance.build)."""
        return provenance.build(self.files, self.by_file, __version__, self.manifest.model_dump(mode="json"), keep)

    def record(self, path: str) -> Record | None:
        for f in self.files:
            if f.path == path:
                return provenance.record_of(f, self.by_file.get(path, []))
        return None


def generate(manifest: Manifest, checklist: Checklist) -> Generation:
    """Render the project for ``manifest`` and evaluate ``checklist`` against the rendered files."""
    planned = render.render(manifest)
    source = evidence.MemorySource({f.path: f.content for f in planned})
    results = evidence.evaluate_all(checklist, manifest.options, manifest.service_contexts(), source)
    by_file = evidence.items_by_file(results)
    files = [
        render.PlannedFile(f.path, f.content, f.template, f.executable, tuple(by_file.get(f.path, ()))) for f in planned
    ]
    return Generation(manifest, files, results, by_file)


def render_map(manifest: Manifest) -> dict[str, bytes]:
    """Only the rendered contents (the base of a three-way merge)."""
    return {f.path: f.content for f in render.render(manifest)}
