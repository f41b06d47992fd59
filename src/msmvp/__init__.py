"""msmvp: turn the Microservices MVP checklist into a working repository."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["MsmvpError", "__version__", "new_project"]


def __getattr__(name: str) -> object:
    # Lazy, so `import msmvp` (and `msmvp --help`) stays cheap.
    if name == "new_project":
        from msmvp.api import new_project

        return new_project
    if name == "MsmvpError":
        from msmvp.errors import MsmvpError

        return MsmvpError
    raise AttributeError(f"module 'msmvp' has no attribute {name!r}")
