"""Machine- and people-readable renderings of a :class:`~msmvp.status.StatusReport`.

``json``      versioned (``msmvp-status/1``; JSON Schema in ``msmvp/schemas/status-v1.schema.json``)
``markdown``  a PR comment or a CHECKLIST.md
``junit``     one test case per item: a failure for an applicable item that is missing, skipped when n/a
``sarif``     SARIF 2.1.0: one rule per item, one result per item whose evidence is missing or broken
``html``      one self-contained page (no external assets): phase bars and the item table
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from msmvp import __version__, domain_view
from msmvp.status import ItemStatus, StatusReport

SCHEMA = "msmvp-status/1"
FORMATS = ("json", "markdown", "junit", "sarif", "html")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "warning", "medium": "note"}
_MARK = {
    "n/a": "➖",
    "missing": "❌",
    "present": "🟡",
    "configured": "🟢",
    "verified": "✅",
    "attested": "✍️",
}


def schema_text() -> str:
    """The JSON Schema of the ``json`` format."""
    from importlib.resources import files

    return files("msmvp").joinpath("schemas/status-v1.schema.json").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- json


def _item_data(s: ItemStatus) -> dict[str, Any]:
    item = s.item
    att = s.attestation or s.expired
    return {
        "id": item.id,
        "phase": item.phase,
        "title": item.title,
        "priority": item.priority,
        "effort_days": item.effort_days,
        "human": item.human,
        "applicable": s.applicable,
        "reason": s.reason or None,
        "level": s.level,
        "evidence_level": s.evidence_level,
        "top_level": s.top if s.applicable else None,
        "done": s.done,
        "credit": round(s.credit, 3),
        "remaining_days": s.remaining_days,
        "checks": [
            {"level": c.level, "spec": c.spec, "ok": c.ok, "files": list(c.files), "detail": c.detail or None}
            for c in s.checks
        ],
        "commands": [
            {
                "command": c.command,
                "outcome": c.outcome,
                "returncode": c.returncode,
                "seconds": round(c.seconds, 3),
                "timeout": c.timeout,
                "output": c.output,
            }
            for c in s.commands
        ],
        "files": [{"path": f.path, "state": f.state} for f in s.files],
        "attestation": None
        if att is None
        else {
            "by": att.by,
            "note": att.note,
            "date": att.date.isoformat(),
            "expires": att.expires.isoformat() if att.expires else None,
            "expired": s.expired is not None,
        },
        "remediation": s.remediation or None,
    }


def to_data(report: StatusReport) -> dict[str, Any]:
    """The report as plain data, in the shape the JSON Schema describes."""
    return {
        "schema": SCHEMA,
        "msmvp_version": __version__,
        "date": report.today.isoformat(),
        "project": {
            "name": report.project,
            "manifest": report.has_manifest,
            "provenance": report.has_provenance,
            "options_known": report.options_known,
            "options": dict(report.options),
            "services": list(report.services),
            **({"domain": domain_view.to_data(report.domain)} if report.domain.services else {}),
        },
        "checklist": {"name": report.checklist.name, "items": len(report.checklist.items)},
        "verify": report.verify,
        "score": report.score,
        "remaining_days": report.remaining_days,
        "mvp_ready": report.mvp_ready,
        "counts": report.counts(),
        "next": [s.id for s in report.next_items],
        "notes": list(report.notes),
        "phases": [
            {
                "phase": p.phase,
                "title": p.title,
                "applicable": p.applicable,
                "done": p.done,
                "score": p.score,
                "remaining_days": p.remaining_days,
            }
            for p in report.phases
        ],
        "items": [_item_data(s) for s in report.items],
    }


def to_json(report: StatusReport) -> str:
    return json.dumps(to_data(report), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: StatusReport) -> str:
    ready = "**MVP-ready**" if report.mvp_ready else "not MVP-ready yet"
    lines = [
        f"# Microservices MVP checklist: {report.project}",
        "",
        f"Score **{report.score:g}%** · {ready} · {report.remaining_days:g} days of effort left"
        f" · checklist {report.checklist.name!r}" + ("" if report.verify else " · commands not run (`--verify`)"),
        "",
    ]
    if report.next_items:
        lines.append("Next: " + "; ".join(f"**{s.id}** {s.item.title} ({s.item.priority})" for s in report.next_items))
        lines.append("")
    for note in report.notes:
        lines.append(f"> {note}")
    if report.notes:
        lines.append("")
    for phase in report.phases:
        lines += [
            f"## Phase {phase.phase}: {phase.title} — {phase.done}/{phase.applicable} done, {phase.score:g}%",
            "",
            "| | id | item | priority | effort | level | note |",
            "|---|---|---|---|---:|---|---|",
        ]
        for s in (s for s in report.items if s.item.phase == phase.phase):
            note = s.reason if not s.applicable else ""
            if s.attestation is not None:
                note = f"attested by {s.attestation.by} on {s.attestation.date.isoformat()}"
            elif s.applicable and not s.done:
                note = _problem(s)
            lines.append(
                f"| {_MARK[s.level]}{' ✔' if s.done else ''} | {s.id} | {_md_cell(s.item.title)} | {s.item.priority} |"
                f" {s.item.effort_days:g} d | {s.level} | {_md_cell(note)} |"
            )
        lines.append("")
    if report.domain.services:
        lines += domain_view.to_markdown(report.domain)
    lines.append(f"<sub>msmvp {__version__} · {report.today.isoformat()} · `msmvp status --explain ID`</sub>")
    return "\n".join(lines) + "\n"


def _problem(s: ItemStatus) -> str:
    """One line on why an applicable item is not done."""
    failed = [c for c in s.checks if not c.ok]
    if failed:
        c = failed[0]
        if c.level == "present" and c.detail:
            return c.detail
        return f"{c.spec}: {c.detail}" if c.detail else c.spec
    if s.expired is not None and s.expired.expires is not None:
        return f"attestation by {s.expired.by} expired on {s.expired.expires.isoformat()}"
    if s.item.human:
        return "needs a person: `msmvp attest`"
    if s.top == "verified" and s.level == "configured":
        return "commands not run" if not s.commands else "commands did not pass"
    return ""


# ---------------------------------------------------------------------------- junit


def to_junit(report: StatusReport) -> str:
    root = ET.Element("testsuites", name=f"msmvp status {report.project}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for phase in report.phases:
        items = [s for s in report.items if s.item.phase == phase.phase]
        suite = ET.SubElement(root, "testsuite", name=f"Phase {phase.phase}: {phase.title}")
        counts = {"tests": len(items), "failures": 0, "skipped": 0, "errors": 0}
        for s in items:
            case = ET.SubElement(
                suite, "testcase", classname=f"msmvp.phase{phase.phase}", name=f"{s.id} {s.item.title}", time="0"
            )
            for c in s.commands:
                case.set("time", f"{float(case.get('time', '0')) + c.seconds:.3f}")
            if not s.applicable:
                ET.SubElement(case, "skipped", message=f"n/a: {s.reason}")
                counts["skipped"] += 1
            elif s.level == "missing":
                failure = ET.SubElement(
                    case, "failure", message=f"{s.item.priority} item missing: {_problem(s)}", type="missing"
                )
                failure.text = "\n".join(
                    [*(f"{'ok' if c.ok else 'FAIL'} {c.level}: {c.spec} {c.detail}" for c in s.checks), s.remediation]
                )
                counts["failures"] += 1
            out = ET.SubElement(case, "system-out")
            out.text = f"level: {s.level}; done: {str(s.done).lower()}; priority: {s.item.priority}" + (
                f"; {_problem(s)}" if s.applicable and not s.done else ""
            )
        for key, value in counts.items():
            suite.set(key, str(value))
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------- sarif


def _location(path: str) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"}}}


def _sarif_result(s: ItemStatus, rule_index: int) -> dict[str, Any] | None:
    failed = [c for c in s.checks if not c.ok and c.level != "verified"]
    broken = s.broken_files
    if not s.applicable or s.attestation is not None or (not failed and not broken):
        return None
    text = f"{s.id} {s.item.title}: {s.level}"
    if failed:
        text += "; " + "; ".join(f"{c.spec}: {c.detail}" if c.detail else c.spec for c in failed[:3])
    if broken:
        text += "; " + ", ".join(f"{f.path} {f.state}" for f in broken[:5])
    paths = [f.path for f in broken] + [f for c in failed for f in c.files if f not in {b.path for b in broken}]
    result: dict[str, Any] = {
        "ruleId": s.id,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[s.item.priority],
        "kind": "fail",
        "message": {"text": text + (f". Fix: {s.remediation}" if s.remediation else "")},
        "properties": {"level": s.level, "priority": s.item.priority},
    }
    if paths:
        result["locations"] = [_location(p) for p in dict.fromkeys(paths)]
    return result


def to_sarif(report: StatusReport) -> str:
    rules = [
        {
            "id": s.id,
            "name": "".join(w.capitalize() for w in s.item.title.split() if w.isalnum()) or s.id,
            "shortDescription": {"text": s.item.title},
            "fullDescription": {"text": " ".join(s.item.description.split())},
            "help": {"text": s.remediation or "see `msmvp status --explain " + s.id + "`"},
            "defaultConfiguration": {"level": _SARIF_LEVEL[s.item.priority]},
            "properties": {"priority": s.item.priority, "effort_days": s.item.effort_days, "phase": s.item.phase},
        }
        for s in report.items
    ]
    results = [r for i, s in enumerate(report.items) if (r := _sarif_result(s, i)) is not None]
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "msmvp",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/msmvp/",
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
                "results": results,
                "properties": {"score": report.score, "mvp_ready": report.mvp_ready},
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- html

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:68rem;
 padding:0 1rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem;margin:.2rem 0} h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
.summary{display:flex;gap:1.5rem;flex-wrap:wrap;align-items:baseline;margin:.8rem 0 1.2rem}
.score{font-size:2.4rem;font-weight:700} .ready{padding:.2rem .6rem;border-radius:1rem;font-weight:600}
.ready.yes{background:#d3f5dc;color:#11602a} .ready.no{background:#fde2cf;color:#8a3b06}
.phase{display:grid;grid-template-columns:22rem 1fr 7rem;gap:.8rem;align-items:center;margin:.35rem 0}
.bar{background:#e4e7ec;border-radius:.4rem;height:.9rem;overflow:hidden}
.fill{background:linear-gradient(90deg,#2f9e58,#49c172);height:100%}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:.6rem;table-layout:fixed}
th:nth-child(1){width:1.6rem} th:nth-child(2){width:3.5rem} th:nth-child(3){width:18rem}
th:nth-child(4){width:6rem} th:nth-child(5){width:4.5rem} th:nth-child(6){width:11rem}
.mark{font-weight:700;text-align:center} .done .mark{color:#11602a} .todo .mark{color:#b42318}
.na .mark{color:#8a93a3} .todo .lvl{opacity:.85} .target{color:#8a93a3;font-size:.8rem;white-space:nowrap}
code{font:.85em ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef0f3;border-radius:.2rem;padding:0 .2rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e4e7ec;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:#5b6474}
.lvl{font-weight:600;border-radius:.3rem;padding:.05rem .4rem;font-size:.85rem;white-space:nowrap}
.l-missing{background:#fbd5d5;color:#8c1c1c} .l-present{background:#fff0c2;color:#7a5600}
.l-configured{background:#dcefff;color:#114a83} .l-verified{background:#d3f5dc;color:#11602a}
.l-attested{background:#eadcff;color:#4b2590} .l-na{background:#eceef1;color:#5b6474}
.p-critical{color:#b42318;font-weight:600} .p-high{color:#a15c07} .p-medium{color:#3b6ea5}
.note{color:#5b6474;font-size:.88rem} .notes li{color:#5b6474}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_CODE = re.compile(r"`([^`]+)`")


def _prose(text: str) -> str:
    """Escaped text whose `inline code` (the markdown of messages and notes) becomes <code>."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", _e(text))


def _row_state(s: ItemStatus) -> tuple[str, str]:
    """The row's class and mark, as the terminal table marks it: ✓ done, ✗ not done, · n/a."""
    if not s.applicable:
        return "na", "·"
    return ("done", "✓") if s.done else ("todo", "✗")


def _level_cell(s: ItemStatus) -> str:
    css = "na" if s.level == "n/a" else s.level
    cell = f'<span class="lvl l-{css}">{_e(s.level)}</span>'
    if target := level_target(s):
        cell += f' <span class="target">→ {_e(target)}</span>'
    return cell


def level_target(s: ItemStatus) -> str:
    """For an applicable item not done, the level it still has to reach (``verified`` when its
    commands were not run, ``attested`` for a human item), else ""; so it never looks finished."""
    if not s.applicable or s.done:
        return ""
    if s.item.human:
        return "attested"
    return s.top if s.top != s.level else ""


def to_html(report: StatusReport) -> str:
    ready = (
        '<span class="ready yes" id="mvp-ready">MVP-ready</span>'
        if report.mvp_ready
        else '<span class="ready no" id="mvp-ready">not MVP-ready</span>'
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>msmvp status: {_e(report.project)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Microservices MVP checklist: {_e(report.project)}</h1>",
        '<div class="summary">',
        f'<span class="score" id="score" data-score="{report.score:g}">{report.score:g}%</span>',
        ready,
        f'<span id="remaining">{report.remaining_days:g} days of effort left</span>',
        f"<span>checklist {_e(report.checklist.name)} · {report.today.isoformat()}</span>",
        "</div>",
    ]
    if report.next_items:
        parts.append(
            '<p id="next">Next: '
            + "; ".join(f"<b>{_e(s.id)}</b> {_e(s.item.title)}" for s in report.next_items)
            + "</p>"
        )
    if report.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_prose(n)}</li>" for n in report.notes) + "</ul>")
    parts.append('<section id="phases">')
    for p in report.phases:
        parts.append(
            f'<div class="phase" data-phase="{p.phase}"><span>Phase {p.phase}: {_e(p.title)}</span>'
            f'<div class="bar" role="progressbar" aria-valuenow="{p.score:g}" aria-valuemin="0" aria-valuemax="100">'
            f'<div class="fill" style="width:{p.score:g}%"></div></div>'
            f"<span>{p.score:g}% · {p.done}/{p.applicable}</span></div>"
        )
    parts.append("</section>")
    for p in report.phases:
        parts += [
            f"<h2>Phase {p.phase}: {_e(p.title)}</h2>",
            f'<table data-phase="{p.phase}"><thead><tr><th title="done">✓</th><th>id</th><th>item</th>'
            "<th>priority</th><th>effort</th><th>level</th><th>note</th></tr></thead><tbody>",
        ]
        for s in (s for s in report.items if s.item.phase == p.phase):
            note = s.reason if not s.applicable else ("" if s.done else _problem(s))
            if s.attestation is not None:
                note = f"attested by {s.attestation.by}: {s.attestation.note}"
            state, mark = _row_state(s)
            parts.append(
                f'<tr id="item-{_e(s.id)}" class="{state}" data-level="{_e(s.level)}"'
                f' data-done="{str(s.done).lower()}"><td class="mark">{mark}</td><td>{_e(s.id)}</td>'
                f'<td>{_e(s.item.title)}</td><td class="p-{s.item.priority}">{s.item.priority}</td>'
                f"<td>{s.item.effort_days:g} d</td><td>{_level_cell(s)}</td>"
                f'<td class="note">{_prose(note)}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append(f'<p class="note">msmvp {__version__}</p></body></html>')
    return "\n".join(parts) + "\n"


RENDERERS: dict[str, Callable[[StatusReport], str]] = {
    "json": to_json,
    "markdown": to_markdown,
    "junit": to_junit,
    "sarif": to_sarif,
    "html": to_html,
}


def render(report: StatusReport, fmt: str) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`)."""
    return RENDERERS[fmt](report)


def write(path: Path, text: str) -> None:
    """Write a rendered report to ``path``."""
    from msmvp.errors import ReportWriteError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportWriteError(f"cannot write {path}: {exc.strerror}") from None
