"""The lazy part of a declared resource's ``openapi.json`` a template context holds.

Only ``openapi.json``'s template reads it; the pydantic models that make it are built then, in
:mod:`msmvp.openapi_build` (imported only then: pydantic costs every other run its import).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class Fragments(Mapping[str, str]):
    """A declared resource's members of ``paths`` (key ``paths``) and of ``components.schemas``
    (key ``schemas``) in ``openapi.json``, built when first read: only that file's template reads
    them, so ``status`` and the other files' renders do not build the models."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self._key = json.dumps(resource, sort_keys=True)

    def __getitem__(self, key: str) -> str:
        from msmvp.openapi_build import fragments

        return fragments(self._key)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("paths", "schemas"))

    def __len__(self) -> int:
        return 2

    def __eq__(self, other: object) -> bool:
        # Two contexts compare without building anything.
        if isinstance(other, Fragments):
            return self._key == other._key
        return super().__eq__(other)

    def __repr__(self) -> str:
        # What the render's fingerprints see (msmvp.targets): a function of the resource alone.
        return f"Fragments({self._key})"
