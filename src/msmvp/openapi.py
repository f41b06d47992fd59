"""The lazy part of a declared resource's ``openapi.json`` a template context holds.

Only ``openapi.json``'s template reads it; the pydantic models that make it are built then, in
:mod:`msmvp.openapi_build` (imported only then: pydantic costs every other run its import).

What pydantic builds is kept in the user's cache, keyed by the resource, msmvp's code and the
installed pydantic: importing pydantic and building a resource's models costs more than
rendering the rest of its service, and a regeneration (``add-field``, ``upgrade``) or another
project with the same resource builds it again otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from msmvp import __version__, _resources

_CACHE_FORMAT = "openapi-fragments/1"


class Fragments(Mapping[str, str]):
    """A declared resource's members of ``paths`` (key ``paths``) and of ``components.schemas``
    (key ``schemas``) in ``openapi.json``, built when first read: only that file's template reads
    them, so ``status`` and the other files' renders do not build the models."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self._key = json.dumps(resource, sort_keys=True)

    def __getitem__(self, key: str) -> str:
        return _fragments(self._key)[key]

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


@lru_cache(maxsize=256)
def _fragments(key: str) -> dict[str, str]:
    """:func:`msmvp.openapi_build.fragments` of the resource ``key``, from the cache when it holds them."""

    def build() -> dict[str, str]:
        from msmvp.openapi_build import fragments

        return fragments(key)

    parts: list[bytes | str] = [_CACHE_FORMAT, __version__, _resources.code_of("openapi_build")]
    parts += [_resources.installed("pydantic"), key]
    return _resources.cached("openapi", parts, build, _as_fragments)


def _as_fragments(kept: object) -> dict[str, str] | None:
    """What :func:`_fragments` kept, when it has the shape it keeps."""
    if isinstance(kept, dict) and set(kept) == {"paths", "schemas"} and all(isinstance(v, str) for v in kept.values()):
        return kept
    return None
