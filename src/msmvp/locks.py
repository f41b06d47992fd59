"""Lock files: exact versions with hashes for every requirements file a generated project has.

A project's requirements depend on its components (``parts.service_requirements``,
``parts.dev_requirements``), so its locks are made at render time, offline, from one
*union lock* that msmvp ships: every requirement any template or component can produce, resolved
together for every platform (``uv pip compile --universal --generate-hashes``). A project's
``<dir>/requirements[-x].lock`` is the closure of its ``requirements[-x].txt`` in that lock: the
entries it names and, following the lock's ``# via`` annotations, everything they need, with the
lock's environment markers and hashes. All of a project's locks come from the same resolution, so
they agree on every version.

The maintainer re-locks with ``python -m msmvp.locks`` (``make relock``; docs/templates.md) after
changing a requirement in a template or a ``component.yml``; a test fails until then.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from msmvp import __version__, _resources
from msmvp.errors import TemplateError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

# The images' and CI's Python (the Dockerfiles' base image, every CI test job) and the lowest
# Python the union lock is resolved for: one place, read by the templates as `python_version`.
PYTHON_VERSION = "3.11"
UNION_IN = "union.in"
UNION_LOCK = "union.lock"
_CACHE_FORMAT = "locks/1"  # what plan_locks keeps: a change of its shape gets new entries
RELOCK_HINT = "re-lock: python -m msmvp.locks (docs/templates.md, 'Lock files')"
_REQUIREMENTS = re.compile(r"(?:^|/)requirements(?:-[a-z0-9-]+)?\.txt$")
_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s+|=)(\S+)$")


@dataclass(frozen=True)
class Entry:
    """One pinned distribution of a lock file (a name may have several, under exclusive markers)."""

    name: str  # canonical
    requirement: str  # "name==version" plus " ; marker" when it has one
    version: str
    hashes: tuple[str, ...]
    parents: frozenset[str]  # canonical names of the entries that need this one (`# via`)


@dataclass(frozen=True)
class Named:
    """A requirement as a requirements file names it."""

    source: str  # the requirements file that holds the line
    requirement: Requirement


def lockdata_dir() -> Path:
    return Path(str(files("msmvp"))) / "lockdata"


def is_requirements(path: str) -> bool:
    """``requirements.txt`` or ``requirements-<what>.txt``, in any directory."""
    return _REQUIREMENTS.search(path) is not None


def lock_path(path: str) -> str:
    return path.removesuffix(".txt") + ".lock"


def parse_lock(text: str, source: str = UNION_LOCK) -> list[Entry]:
    """The entries of a lock file in uv's/pip-compile's format (hashes and ``# via`` annotations)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    entries: list[Entry] = []
    blocks = re.split(r"\n(?=[A-Za-z0-9])", "\n" + text)
    for block in blocks:
        block = block.strip("\n")
        if not block or block.startswith("#"):
            continue
        head, _, rest = block.partition("\\")
        requirement = head.strip()
        try:
            req = Requirement(requirement)
        except InvalidRequirement as exc:
            raise TemplateError(f"{source}: not a lock entry: {requirement!r}: {exc}", hint=RELOCK_HINT) from None
        pins = [s.version for s in req.specifier if s.operator == "=="]
        hashes = tuple(re.findall(r"--hash=(\S+)", rest))
        if len(pins) != 1 or not hashes:
            raise TemplateError(f"{source}: {requirement!r} is not pinned with hashes", hint=RELOCK_HINT)
        via = []
        for line in rest.splitlines():
            comment = line.strip().removeprefix("#").strip()
            if comment == "via" or comment.startswith("via "):
                comment = comment[3:].strip()
            if comment and not comment.startswith(("-r", "-c", "--hash")) and re.fullmatch(r"[A-Za-z0-9._-]+", comment):
                via.append(canonicalize_name(comment))
        entries.append(Entry(canonicalize_name(req.name), requirement, pins[0], hashes, frozenset(via)))
    return entries


@cache
def union_bytes() -> bytes:
    """The union lock msmvp ships, as it is on disk (part of what a rendered folder depends on)."""
    path = lockdata_dir() / UNION_LOCK
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc.strerror}", hint=RELOCK_HINT) from None


@cache
def union() -> tuple[Entry, ...]:
    """The union lock msmvp ships."""
    return tuple(parse_lock(union_bytes().decode("utf-8")))


def requirements_of(path: str, texts: Mapping[str, bytes]) -> list[Named]:
    """Every requirement ``path`` names, following ``-r`` includes (relative to the including file)."""
    return _named(_requirement_lines(path, texts))


def _named(lines: Sequence[tuple[str, str]]) -> list[Named]:
    """The requirements of lines from :func:`_requirement_lines`, parsed."""
    from packaging.requirements import InvalidRequirement

    out: list[Named] = []
    for source, line in lines:
        if line.startswith("-"):
            raise TemplateError(f"{source}: {line!r}: only requirements and -r includes can be locked")
        try:
            out.append(Named(source, _requirement(line)))
        except InvalidRequirement as exc:
            raise TemplateError(f"{source}: {line!r}: {exc}") from None
    return out


def _requirement_lines(path: str, texts: Mapping[str, bytes], _seen: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(the file that holds it, the line) of every line ``path`` names besides its ``-r``
    includes, which are followed (relative to the including file); comments and blanks dropped."""
    if path in _seen:
        raise TemplateError(f"{path}: includes itself through {' -> '.join(_seen)}")
    if path not in texts:
        where = f" (included by {_seen[-1]})" if _seen else ""
        raise TemplateError(f"{path}: not generated{where}")
    out: list[tuple[str, str]] = []
    for raw in texts[path].decode("utf-8").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        include = _INCLUDE.match(line)
        if include:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), include.group(1)))
            out.extend(_requirement_lines(target, texts, (*_seen, path)))
        else:
            out.append((path, line))
    return out


@cache
def _requirement(line: str) -> Requirement:
    """A parsed requirement line: every service's requirements file names mostly the same lines,
    and the project's development lock reads them all (one parse a line, not a line a service)."""
    from packaging.requirements import Requirement

    return Requirement(line)


def uncovered(named: Sequence[Named], entries: Sequence[Entry]) -> list[str]:
    """The requirements no entry of ``entries`` satisfies (missing, or pinned outside the range)."""
    from packaging.utils import canonicalize_name

    by_name: dict[str, list[Entry]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry)
    out = []
    # The same requirement (one object a line, _requirement) is checked once; by identity, as
    # hashing a Requirement formats it.
    problems: dict[int, str] = {}
    for item in named:
        req = item.requirement
        if id(req) not in problems:
            pinned = by_name.get(canonicalize_name(req.name), [])
            problems[id(req)] = ""
            if not pinned:
                problems[id(req)] = "is not in the union lock"
            elif not any(req.specifier.contains(e.version, prereleases=True) for e in pinned):
                problems[id(req)] = f"does not allow the locked {', '.join(e.version for e in pinned)}"
        if problems[id(req)]:
            out.append(f"{item.source}: {req} {problems[id(req)]}")
    return out


def closure(names: set[str], entries: Sequence[Entry]) -> list[Entry]:
    """``names`` and everything they need, in lock order: an entry is needed when one of the
    entries that need it (its ``# via``) is."""
    wanted = set(names)
    grew = True
    while grew:
        grew = False
        for entry in entries:
            if entry.name not in wanted and entry.parents & wanted:
                wanted.add(entry.name)
                grew = True
    return [e for e in entries if e.name in wanted]


def lock_text(path: str, named: Sequence[Named], entries: Sequence[Entry]) -> str:
    """The lock of the requirements file ``path`` (which names ``named``), from ``entries``."""
    from packaging.utils import canonicalize_name

    problems = uncovered(named, entries)
    if problems:
        raise TemplateError("; ".join(problems), hint=RELOCK_HINT)
    direct: dict[str, set[str]] = {}
    for item in named:
        direct.setdefault(canonicalize_name(item.requirement.name), set()).add(item.source)
    chosen = closure(set(direct), entries)
    names = {e.name for e in chosen}
    here = posixpath.dirname(path)
    txt = posixpath.basename(path)
    lock = posixpath.basename(lock_path(path))
    lines = [
        f"# Exact versions with hashes of what {txt} needs, for Python {PYTHON_VERSION}+ on every platform.",
        f"# Install: pip install --require-hashes --no-deps -r {lock}",
        f"# Generated by msmvp; after editing {txt}, re-lock with `make lock` (uv pip compile).",
    ]
    relative = {src: posixpath.relpath(src, here or ".") for srcs in direct.values() for src in srcs}
    for entry in chosen:
        via = sorted(entry.parents & names)
        via += sorted(f"-r {relative[src]}" for src in direct.get(entry.name, ()))
        lines.append(f"{entry.requirement} \\")
        lines.extend(f"    --hash={h} \\" for h in entry.hashes[:-1])
        lines.append(f"    --hash={entry.hashes[-1]}")
        if len(via) == 1:
            lines.append(f"    # via {via[0]}")
        elif via:
            lines.append("    # via")
            lines.extend(f"    #   {v}" for v in via)
    return "\n".join(lines) + "\n"


def plan_locks(
    texts: Mapping[str, bytes], paths: Iterable[str] | None = None, reads: dict[str, set[str]] | None = None
) -> list[tuple[str, str, bytes]]:
    """For each requirements file of a rendered project: (its path, its lock's path, the lock).

    ``paths``: lock only these of ``texts`` (the others are only read where one of these includes
    them); ``reads`` gets, for each lock, the requirements files it was made from.

    The locks are kept in the user's cache, keyed by the requirement lines they are made from
    (and the files holding them), the union lock, this module's code and the installed
    ``packaging``: most projects generate the same few requirements files, and parsing them (and
    importing ``packaging``) costs a new project more than rendering one of its services.
    """
    chosen = sorted(p for p in (texts if paths is None else paths) if is_requirements(p))
    try:
        walked = {path: _requirement_lines(path, texts) for path in chosen}
    except TemplateError:
        for path in chosen:  # the first error in path order, as locking them one by one meets it
            requirements_of(path, texts)
        raise

    def build() -> tuple[list[tuple[str, str, bytes]], dict[str, set[str]]]:
        made_from: dict[str, set[str]] = {}
        planned: list[tuple[str, str, bytes]] = []
        entries = union()
        for path in chosen:
            named = _named(walked[path])
            made_from[path] = {item.source for item in named}
            planned.append((path, lock_path(path), lock_text(path, named, entries).encode("utf-8")))
        return planned, made_from

    parts: list[bytes | str] = [_CACHE_FORMAT, __version__, _resources.code_of("locks")]
    parts += [_resources.installed("packaging"), union_bytes(), repr(sorted(walked.items()))]
    planned, made_from = _resources.cached("locks", parts, build, _as_plan)
    if reads is not None:
        reads.update(made_from)
    return planned


def _as_plan(kept: object) -> tuple[list[tuple[str, str, bytes]], dict[str, set[str]]] | None:
    """What :func:`plan_locks` kept, when it has the shape it keeps."""
    if not (isinstance(kept, tuple) and len(kept) == 2):
        return None
    planned, made_from = kept
    if not isinstance(planned, list) or not isinstance(made_from, dict):
        return None
    if not all(isinstance(p, tuple) and len(p) == 3 and isinstance(p[2], bytes) for p in planned):
        return None
    return planned, made_from


# --- maintainer side: collect every requirement msmvp can generate, and resolve them ---------


def collect_inputs() -> list[str]:
    """Every requirement line any built combination renders, normalised, sorted and unique.

    The combinations are the matrix's full set (every built value at least once), each with two
    services, one calling the other, so service templates that depend on calls are covered.
    """
    from msmvp import domain, render
    from msmvp.manifest import Manifest, Service
    from msmvp.matrix import combos

    services = [Service(name="users"), Service(name="orders", calls=["users"])]
    # And a service declaring a resource: its tests need more (hypothesis).
    declared = [Service(name="users", resources=[domain.Resource("user", (domain.Field("name", "string"),))])]
    lines: set[str] = set()
    for combo, listed in [*((c, services) for c in combos.full()), ({}, declared)]:
        texts = {f.path: f.content for f in render.render_files(Manifest(name="lock", options=combo, services=listed))}
        for path in texts:
            if is_requirements(path):
                lines.update(str(item.requirement) for item in requirements_of(path, texts))
    return sorted(lines, key=str.lower)


def union_in_text(lines: Sequence[str]) -> str:
    header = (
        "# Every requirement msmvp's templates and components can generate (python -m msmvp.locks).\n"
        "# union.lock resolves them together; each generated lock is a closure taken from it.\n"
    )
    return header + "".join(f"{line}\n" for line in lines)


def relock(constraints: Sequence[str] = (), upgrade: bool = False) -> Path:
    """Write ``union.in`` from the templates and resolve it into ``union.lock`` with uv."""
    uv = shutil.which("uv")
    command = [uv] if uv else [sys.executable, "-m", "uv"]
    data = lockdata_dir()
    (data / UNION_IN).write_text(union_in_text(collect_inputs()), encoding="utf-8")
    args = ["pip", "compile", "--quiet", "--universal", "--python-version", PYTHON_VERSION, "--generate-hashes"]
    args += ["--no-header", UNION_IN, "-o", UNION_LOCK]
    for constraint in constraints:
        args += ["--constraint", str(Path(constraint).resolve())]
    if upgrade:
        args.append("--upgrade")
    subprocess.run([*command, *args], cwd=data, check=True)  # existing pins are kept unless needed
    # The constraints only steer the resolution; their (local) paths stay out of the shipped lock.
    lock = data / UNION_LOCK
    lock.write_text(re.sub(r"(?m)^\s*#\s+(?:via )?-c .*\n", "", lock.read_text(encoding="utf-8")), encoding="utf-8")
    union_bytes.cache_clear()
    union.cache_clear()
    return lock


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msmvp.locks", description=relock.__doc__)
    parser.add_argument(
        "--constraint",
        "-c",
        action="append",
        default=[],
        help="a constraints file (e.g. `pip freeze` of the environment the generated projects are tested in)",
    )
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions, not the locked ones")
    args = parser.parse_args(argv)
    path = relock(args.constraint, args.upgrade)
    print(f"{path}: {len(union())} distributions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
