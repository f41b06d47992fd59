"""Evaluate a checklist item's evidence against a tree of files.

The tree can be the in-memory plan of ``msmvp new`` (to tick items as files are written) or a
directory on disk (``msmvp status``). Levels climb in strength: present (paths exist) →
configured (content checks) → verified (commands pass; run only on request).
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from msmvp.checklist import Checklist, Item, PathCheck, matches

_SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", ".dev", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
)


class FileSource(Protocol):
    """A tree of files: their relative posix paths and their text."""

    def paths(self) -> Sequence[str]: ...

    def read(self, path: str) -> str | None: ...


class MemorySource:
    """Files held in memory, e.g. a render plan."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = files
        self._paths = sorted(files)

    def paths(self) -> Sequence[str]:
        return self._paths

    def read(self, path: str) -> str | None:
        data = self._files.get(path)
        return None if data is None else data.decode("utf-8", errors="replace")


class DirSource:
    """Files of a directory on disk, skipping VCS, virtualenv and cache folders.

    ``keep_reads``: each file is read once (for a tree nothing changes while it is evaluated)."""

    def __init__(self, root: Path, *, keep_reads: bool = False) -> None:
        self.root = root
        self._paths: list[str] | None = None
        self._links: list[str] = []
        self._kept: dict[str, str | None] | None = {} if keep_reads else None

    def paths(self) -> Sequence[str]:
        if self._paths is None:
            found: list[str] = []
            links: list[str] = []
            pending = [(str(self.root), "")]
            while pending:  # os.walk's listing (links to folders not followed), noting the links
                directory, prefix = pending.pop()
                try:
                    entries = list(os.scandir(directory))
                except OSError:
                    continue
                for entry in entries:
                    if entry.is_dir():
                        if not entry.is_symlink() and _walked(entry.name + "/"):
                            pending.append((entry.path, f"{prefix}{entry.name}/"))
                        continue
                    found.append(prefix + entry.name)
                    if entry.is_symlink():
                        links.append(prefix + entry.name)
            self._paths = sorted(found)
            self._links = sorted(links)
        return self._paths

    def links(self) -> Sequence[str]:
        """The listed paths that are symbolic links (their content is another file's)."""
        self.paths()
        return self._links

    def read(self, path: str) -> str | None:
        if self._kept is not None and path in self._kept:
            return self._kept[path]
        try:
            text: str | None = (self.root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = None
        if self._kept is not None:
            self._kept[path] = text
        return text

    def after(self, writes: Mapping[str, bytes | None]) -> FileSource:
        """This tree once ``writes`` ({path: content, None to delete}) are made, without reading
        again the files they leave alone (a symbolic link is always read from disk)."""
        return _Written(self, writes)


def _walked(path: str) -> bool:
    """Whether :meth:`DirSource.paths` lists ``path`` when it exists (not in a skipped folder)."""
    folders = path.split("/")[:-1]
    return not any(f in _SKIP_DIRS or f.endswith(".egg-info") for f in folders)


class _Written:
    """A :class:`DirSource` with writes laid over it (see :meth:`DirSource.after`)."""

    def __init__(self, base: DirSource, writes: Mapping[str, bytes | None]) -> None:
        self._base = base
        self._writes = writes
        self._paths: list[str] | None = None

    def paths(self) -> Sequence[str]:
        if self._paths is None:
            gone = {p for p, content in self._writes.items() if content is None}
            made = {p for p, content in self._writes.items() if content is not None and _walked(p)}
            self._paths = sorted((set(self._base.paths()) - gone) | made)
        return self._paths

    def read(self, path: str) -> str | None:
        if path in self._writes:
            data = self._writes[path]
            return None if data is None else data.decode("utf-8", errors="replace")
        if os.path.islink(self._base.root / path):
            return DirSource(self._base.root).read(path)
        return self._base.read(path)


@cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a path glob to a regex: ``*`` within a part, ``**`` across parts, ``?`` one
    character, ``{a,b}`` either (a service's API tests are ``test_{api,resources}.py``: the
    placeholder item's or a declared domain's)."""
    return re.compile(_glob_body(pattern) + r"\Z")


def _glob_body(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "{" and (end := pattern.find("}", i)) > i and "," in pattern[i:end]:
            out.append("(?:" + "|".join(_glob_body(a) for a in pattern[i + 1 : end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def expand(pattern: str, services: Sequence[Mapping[str, Any]]) -> list[str]:
    """One pattern per service when it names ``{service}`` or ``{package}``, else itself."""
    if "{service}" not in pattern and "{package}" not in pattern:
        return [pattern]
    return [pattern.replace("{service}", s["name"]).replace("{package}", s["package"]) for s in services]


_GLOB_CHARS = re.compile(r"[*?\[{]")


def match(pattern: str, paths: Sequence[str]) -> list[str]:
    """The paths (sorted) that ``pattern`` matches.

    Only the slice of ``paths`` that shares the pattern's literal prefix is scanned, and a
    pattern without wildcards is a binary search: status stays fast on large repos.
    """
    wildcard = _GLOB_CHARS.search(pattern)
    prefix = pattern[: wildcard.start()] if wildcard else pattern
    start = bisect.bisect_left(paths, prefix)
    if not wildcard:
        return [pattern] if start < len(paths) and paths[start] == pattern else []
    rx = glob_regex(pattern)
    out = []
    for path in itertools.islice(paths, start, None):
        if not path.startswith(prefix):
            break
        if rx.match(path):
            out.append(path)
    return out


class _Literal:
    """A pattern without regex syntax, searched as a plain string (as the regex would find it)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def search(self, haystack: str) -> bool:
        return self.text in haystack


_REGEX_SYNTAX = re.compile(r"[\\.^$*+?{}\[\]|()]")


@cache
def _content_regex(text: str) -> re.Pattern[str] | _Literal:
    """What a ``contains`` check searches for. Half the checklist's patterns are plain words, and
    compiling them all was a tenth of what `msmvp new` spends besides rendering."""
    if _REGEX_SYNTAX.search(text) is None:
        return _Literal(text)
    return re.compile(text, re.MULTILINE)


@dataclass
class CheckResult:
    """The outcome of one evidence check."""

    level: str
    spec: str
    ok: bool
    files: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class ItemResult:
    """An item's evaluation: whether it applies, the level reached, and each check."""

    item: Item
    applicable: bool
    level: str = "missing"
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({f for c in self.checks for f in c.files})

    @property
    def scaffolded(self) -> bool:
        """Every static check holds and there is at least one."""
        static = [c for c in self.checks if c.level != "verified"]
        return bool(static) and all(c.ok for c in static)


def _active(checks: Sequence[PathCheck], options: Mapping[str, str]) -> list[Any]:
    return [c for c in checks if matches(c.when, options)]


def _present(check: PathCheck, services: Sequence[Mapping[str, Any]], source: FileSource) -> CheckResult:
    files: list[str] = []
    missing = []
    for pattern in expand(check.path, services):
        found = match(pattern, source.paths())
        files.extend(found)
        if not found:
            missing.append(pattern)
    detail = f"missing: {', '.join(missing)}" if missing else ""
    return CheckResult("present", check.path, not missing, files, detail)


def _pattern_holds(check: Any, configured: bool, pattern: str, source: FileSource) -> bool:
    """One expanded pattern of a check: its files exist (and each holds the content asked for)."""
    found = match(pattern, source.paths())
    if not configured or not found:
        return bool(found)
    rx = _content_regex(check.contains)
    return all(rx.search(source.read(f) or "") for f in found)


def _configured(check: Any, services: Sequence[Mapping[str, Any]], source: FileSource) -> CheckResult:
    result = _present(check, services, source)
    spec = f"{check.path} contains /{check.contains}/"
    if not result.ok:
        return CheckResult("configured", spec, False, result.files, result.detail)
    rx = _content_regex(check.contains)
    lacking = [f for f in result.files if not rx.search(source.read(f) or "")]
    detail = f"no match in: {', '.join(lacking)}" if lacking else ""
    return CheckResult("configured", spec, not lacking, result.files, detail)


def evaluate(
    item: Item, options: Mapping[str, str], services: Sequence[Mapping[str, Any]], source: FileSource
) -> ItemResult:
    """Evaluate the static evidence (present, configured) of one item."""
    if not item.applies(options):
        return ItemResult(item, applicable=False, level="n/a")
    result = ItemResult(item, applicable=True)
    present = [_present(c, services, source) for c in _active(item.evidence.present, options)]
    configured = [_configured(c, services, source) for c in _active(item.evidence.configured, options)]
    result.checks = present + configured
    level = "missing"
    for name, checks in (("present", present), ("configured", configured)):
        if not checks:
            continue
        if not all(c.ok for c in checks):
            break
        level = name
    result.level = level
    return result


def evaluate_all(
    checklist: Checklist, options: Mapping[str, str], services: Sequence[Mapping[str, Any]], source: FileSource
) -> list[ItemResult]:
    return [evaluate(item, options, services, source) for item in checklist.items]


def unsettled(
    checklist: Checklist,
    options: Mapping[str, str],
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    source: FileSource,
    touched: Sequence[str],
) -> set[str]:
    """The items a change can newly scaffold, read from the tree before it (``source``).

    The change writes or deletes the (sorted) paths ``touched`` and takes the services from
    ``before`` to ``after``; the options stay. A check holds when each of its expanded patterns
    does, and a pattern both sides expand to whose files the change leaves alone holds after
    exactly when it held before. So an item scaffolded after the change and not before has a
    check failing before on some other pattern: touched, or one only ``before`` has. Those are
    the only patterns read here; the items returned are the ones with such a failing pattern.
    """
    out: set[str] = set()
    for item in checklist.items:
        if not item.applies(options):
            continue
        checks = [(c, False) for c in _active(item.evidence.present, options)]
        checks += [(c, True) for c in _active(item.evidence.configured, options)]
        for check, configured in checks:
            later = set(expand(check.path, after))
            if any(
                (pattern not in later or match(pattern, touched))
                and not _pattern_holds(check, configured, pattern, source)
                for pattern in expand(check.path, before)
            ):
                out.add(item.id)
                break
    return out


def items_by_path(
    checklist: Checklist, options: Mapping[str, str], services: Sequence[Mapping[str, Any]], paths: Sequence[str]
) -> dict[str, list[str]]:
    """What :func:`items_by_file` gives for the results on a tree with these (sorted) paths,
    without reading a file: which files an item's evidence names depends on their paths alone."""
    out: dict[str, list[str]] = {}
    for item in checklist.items:
        if not item.applies(options):
            continue
        found: set[str] = set()
        for check in (*_active(item.evidence.present, options), *_active(item.evidence.configured, options)):
            for pattern in expand(check.path, services):
                found.update(match(pattern, paths))
        for f in sorted(found):
            out.setdefault(f, []).append(item.id)
    return out


def items_by_file(results: Sequence[ItemResult]) -> dict[str, list[str]]:
    """For each file, the ids of the applicable items whose evidence it is part of."""
    out: dict[str, list[str]] = {}
    for r in results:
        for f in r.files:
            out.setdefault(f, []).append(r.item.id)
    return out
