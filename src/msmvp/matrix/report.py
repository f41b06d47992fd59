"""What a matrix run found, per combination, and its two reports: Markdown and JUnit XML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from msmvp.matrix.combos import Combination, label

PASSED, FAILED, MISSING, NOT_RUN = "passed", "failed", "missing", "not-run"


@dataclass
class CheckRun:
    """One distinct artifact (by content hash) and its check: run once, shared by every
    combination that renders the same bytes."""

    check: str
    path: str
    key: str
    ran_in: str  # label of the combination it ran in
    status: str = NOT_RUN  # passed | failed | missing (the tool is not installed)
    output: str = ""
    seconds: float = 0.0


@dataclass
class ProjectTests:
    """The generated project's ``make install && make test``."""

    status: str  # passed | failed | not-run
    seconds: float = 0.0
    output: str = ""  # the tail of the failing step's output, or why it did not run
    summary: str = ""  # pytest's last line


@dataclass
class ComboResult:
    combo: Combination
    rendered: bool = False
    render_error: str = ""
    files: int = 0
    render_seconds: float = 0.0
    checks: list[CheckRun] = field(default_factory=list)
    tests: ProjectTests | None = None

    @property
    def label(self) -> str:
        return label(self.combo)

    def failed_checks(self, require_tools: bool) -> list[CheckRun]:
        bad = {FAILED, MISSING} if require_tools else {FAILED}
        return [c for c in self.checks if c.status in bad]

    def seconds(self) -> float:
        own = sum(c.seconds for c in self.checks if c.ran_in == self.label)
        return self.render_seconds + own + (self.tests.seconds if self.tests else 0.0)


@dataclass
class MatrixRun:
    """Every combination the run touched, in the order first seen, plus the pass timings."""

    results: dict[str, ComboResult] = field(default_factory=dict)
    expected_renders: int | None = None  # what the option model says the rendered set holds
    require_tools: bool = False
    render_seconds: float = 0.0
    write_seconds: float = 0.0
    static_seconds: float = 0.0
    e2e_seconds: float = 0.0
    distinct_checks: int = 0
    rendered: int = 0  # combinations the render pass rendered

    def result(self, combo: Combination) -> ComboResult:
        key = label(combo)
        if key not in self.results:
            self.results[key] = ComboResult(dict(combo))
        return self.results[key]

    @property
    def render_rate(self) -> float:
        renders = [r for r in self.results.values() if r.render_seconds]
        total = sum(r.render_seconds for r in renders)
        return len(renders) / total if total else 0.0

    def failures(self) -> list[str]:
        """One line per failing combination and artifact (empty: the matrix passed)."""
        lines = []
        if self.expected_renders is not None and self.rendered != self.expected_renders:
            lines.append(f"rendered {self.rendered} combinations, the option model has {self.expected_renders}")
        for r in self.results.values():
            if r.render_error:
                lines.append(f"{r.label}: does not render: {_first_line(r.render_error)}")
            for c in r.failed_checks(self.require_tools):
                why = "tool not installed" if c.status == MISSING else _first_line(c.output)
                lines.append(f"{r.label}: {c.path} ({c.check}): {why}")
            if r.tests and r.tests.status != PASSED:
                lines.append(f"{r.label}: make install && make test {r.tests.status}: {_tests_why(r.tests)}")
        return lines


def _first_line(text: str) -> str:
    """The first line that says something (not the command echo or its exit status)."""
    skip = re.compile(r"^(\$ |exit \d+$|Traceback )")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not skip.match(line)]
    return lines[0][:200] if lines else ""


def _tests_why(tests: ProjectTests) -> str:
    """The failing step, pytest's summary and the first failing test, on one line."""
    why = [_first_line(tests.output)]
    if tests.summary:
        why.append(tests.summary)
    first = next((line for line in tests.output.splitlines() if line.startswith("FAILED ")), "")
    if first:
        why.append(first.split(" - ")[0])
    return "; ".join(w for w in why if w)


def _checks_cell(r: ComboResult, require_tools: bool) -> str:
    if not r.checks:
        return "—"
    bad = r.failed_checks(require_tools)
    missing = sum(1 for c in r.checks if c.status == MISSING)
    here = sum(1 for c in r.checks if c.ran_in == r.label)
    cell = f"{'✗ ' + str(len(bad)) + ' failed of' if bad else '✓'} {len(r.checks)} ({here} run here)"
    return cell + (f", {missing} tool missing" if missing and not require_tools else "")


def _tests_cell(r: ComboResult) -> str:
    if r.tests is None:
        return "—"
    mark = {PASSED: "✓", FAILED: "✗"}.get(r.tests.status, r.tests.status)
    return f"{mark} {r.tests.summary or r.tests.status} ({r.tests.seconds:.1f} s)"


def markdown(run: MatrixRun) -> str:
    out = ["# msmvp combination matrix", ""]
    if run.render_seconds:
        expected = f" (option model: {run.expected_renders})" if run.expected_renders is not None else ""
        out.append(
            f"- render: {run.rendered} combinations{expected} in {run.render_seconds:.1f} s, "
            f"{run.render_rate:.1f} combinations/s (plus {run.write_seconds:.1f} s writing files to check)"
        )
    if run.distinct_checks:
        instances = sum(len(r.checks) for r in run.results.values())
        out.append(
            f"- static checks: {run.distinct_checks} distinct artifacts of {instances} rendered, "
            f"in {run.static_seconds:.1f} s"
        )
    tested = [r for r in run.results.values() if r.tests]
    if tested:
        out.append(f"- end to end: {len(tested)} generated projects' make test, in {run.e2e_seconds:.1f} s")
    out += ["", "| combination | rendered | static checks | tests | time |", "|---|---|---|---|---:|"]
    for r in run.results.values():
        rendered = f"✓ {r.files} files" if r.rendered else ("✗" if r.render_error else "—")
        row = [f"`{r.label}`", rendered, _checks_cell(r, run.require_tools), _tests_cell(r), f"{r.seconds():.1f} s"]
        out.append("| " + " | ".join(row) + " |")
    failures = run.failures()
    out += ["", f"## Failures ({len(failures)})" if failures else "No failures.", ""]
    out += [f"- {line}" for line in failures]
    details = _failure_details(run)
    if details:
        out += ["", "## Output", ""]
        for title, text in details:
            out += [f"### {title}", "", "```", text.strip()[-4000:], "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _failure_details(run: MatrixRun) -> list[tuple[str, str]]:
    seen: set[str] = set()
    details = []
    for r in run.results.values():
        if r.render_error:
            details.append((f"{r.label}: render", r.render_error))
        for c in r.failed_checks(run.require_tools):
            if c.key not in seen and c.output:
                seen.add(c.key)
                details.append((f"{c.path} ({c.check}), first in {c.ran_in}", c.output))
        if r.tests and r.tests.status != PASSED:
            details.append((f"{r.label}: make install && make test", r.tests.output))
    return details


def junit(run: MatrixRun) -> str:
    """Three suites (render, static, tests), one case per combination each."""
    from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

    render, static, tests = TestSuite("matrix.render"), TestSuite("matrix.static"), TestSuite("matrix.tests")
    for r in run.results.values():
        if r.render_seconds or r.render_error:
            case = TestCase(r.label, "matrix.render", r.render_seconds)
            if r.render_error:
                case.result = [Failure(_first_line(r.render_error))]
                case.system_out = r.render_error
            render.add_testcase(case)
        if r.checks:
            own = sum(c.seconds for c in r.checks if c.ran_in == r.label)
            case = TestCase(r.label, "matrix.static", own)
            bad = r.failed_checks(run.require_tools)
            if bad:
                case.result = [Failure(", ".join(f"{c.path} ({c.check})" for c in bad))]
                case.system_out = "\n\n".join(f"{c.path} ({c.check}):\n{c.output}" for c in bad)
            elif any(c.status == MISSING for c in r.checks):
                missing = sorted({c.check for c in r.checks if c.status == MISSING})
                case.result = [Skipped(f"tool not installed for: {', '.join(missing)}")]
            static.add_testcase(case)
        if r.tests:
            case = TestCase(r.label, "matrix.tests", r.tests.seconds)
            if r.tests.status != PASSED:
                case.result = [Failure(f"{r.tests.status}: {_tests_why(r.tests)}")]
                case.system_out = r.tests.output
            tests.add_testcase(case)
    xml = JUnitXml("msmvp matrix")
    for suite in (render, static, tests):
        if len(suite):
            xml.add_testsuite(suite)
    return str(xml.tostring().decode("utf-8"))  # type: ignore[no-untyped-call]


def write(run: MatrixRun, out_dir: Path) -> tuple[Path, Path]:
    """``matrix.md`` and ``matrix.junit.xml`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, xml = out_dir / "matrix.md", out_dir / "matrix.junit.xml"
    md.write_text(markdown(run), encoding="utf-8")
    xml.write_text(junit(run), encoding="utf-8")
    return md, xml
