"""Project and service names: DNS labels that are also Python identifiers once normalised."""

from __future__ import annotations

import keyword
import re

from msmvp.errors import InvalidNameError

MAX_LENGTH = 40
_LABEL = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# Names that would shadow a module every generated service imports, or a path msmvp owns.
_RESERVED = frozenset({"test", "tests", "api", "gateway", "scripts", "docs", "deploy", "services"})


def module_name(name: str) -> str:
    """The Python identifier for a valid name: ``order-items`` -> ``order_items``."""
    return name.replace("-", "_")


def check_name(name: str, kind: str = "service") -> str:
    """Return ``name`` if it is a valid project/service name, else raise :class:`InvalidNameError`."""
    shown = repr(name)
    if not name:
        raise InvalidNameError(f"the {kind} name is empty")
    if len(name) > MAX_LENGTH:
        raise InvalidNameError(f"{kind} name {shown} is {len(name)} characters long (at most {MAX_LENGTH})")
    if not _LABEL.match(name):
        raise InvalidNameError(f"{kind} name {shown} is not a DNS label")
    if keyword.iskeyword(module_name(name)):
        raise InvalidNameError(f"{kind} name {shown} is a Python keyword", hint=f"try '{name}s' or '{name}-svc'")
    if kind == "service" and name in _RESERVED:
        raise InvalidNameError(
            f"service name {shown} is reserved (it is a folder or module of every generated repo)",
            hint=f"try '{name}-svc'",
        )
    return name


def parse_service_list(text: str) -> list[str]:
    """Split ``users,orders`` into checked names; refuse duplicates and an empty list."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip():
        raise InvalidNameError("no services given", hint="pass --services users,orders")
    seen: set[str] = set()
    for name in names:
        check_name(name)
        if name in seen:
            raise InvalidNameError(f"service {name!r} is listed twice", hint="list each service once")
        seen.add(name)
    return names
