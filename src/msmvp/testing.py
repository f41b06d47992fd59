"""Helpers for tests of msmvp and of templates: render a project into a directory."""

from __future__ import annotations

from pathlib import Path


def render_project(dest: Path, name: str = "shop", services: str = "users,orders", **options: str) -> Path:
    """Render a project (no git, no prompts) into ``dest`` and return it."""
    from msmvp.api import new_project

    new_project(name, output_dir=dest.parent, target=dest, services=services, options=options, git=False)
    return dest
