"""The domain as ``msmvp status`` shows it: a line per service (its resources, their fields and
references) and the Mermaid diagrams, as plain data, JSON data and Markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceSummary:
    name: str
    path: str
    fields: int
    refs: tuple[str, ...]  # "users.user", one per reference field
    placeholder: bool  # the default item of a service that declares none

    def describe(self) -> str:
        """``order (3 fields; refs users.user)``."""
        what = f"{self.fields} field{'s' if self.fields != 1 else ''}"
        if self.placeholder:
            what = f"placeholder, {what}"
        if self.refs:
            what += f"; refs {', '.join(self.refs)}"
        return f"{self.name} ({what})"


@dataclass(frozen=True)
class ServiceDomain:
    name: str
    resources: tuple[ResourceSummary, ...]
    diagram: str  # Mermaid erDiagram of its resources

    def describe(self) -> str:
        return ", ".join(r.describe() for r in self.resources)


@dataclass(frozen=True)
class Domain:
    """Every service's resources, and the diagram of the references across services."""

    services: tuple[ServiceDomain, ...] = ()
    diagram: str = ""


def from_contexts(services: Sequence[Mapping[str, Any]], diagram: str) -> Domain:
    """The domain of the template contexts of a project's services (``Manifest.service_contexts``)."""
    out = []
    for svc in services:
        resources = tuple(
            ResourceSummary(
                r["name"],
                r["path"],
                len(r["fields"]),
                tuple(f"{f['ref']['service']}.{f['ref']['resource']}" for f in r["refs"]),
                bool(r["default"]),
            )
            for r in svc.get("resources", ())
        )
        out.append(ServiceDomain(svc["name"], resources, svc.get("diagram", "")))
    return Domain(tuple(out), diagram)


def to_data(domain: Domain) -> dict[str, Any]:
    """The ``project.domain`` of the JSON report (schemas/status-v1.schema.json)."""
    return {
        "services": [
            {
                "name": s.name,
                "resources": [
                    {
                        "name": r.name,
                        "path": r.path,
                        "fields": r.fields,
                        "refs": list(r.refs),
                        "placeholder": r.placeholder,
                    }
                    for r in s.resources
                ],
                "diagram": s.diagram,
            }
            for s in domain.services
        ],
        "diagram": domain.diagram,
    }


def to_markdown(domain: Domain, heading: str = "##", title: str = "Domain") -> list[str]:
    """The domain as Markdown lines: a table of the services, the diagram across services, and
    each service's diagram (fenced ``mermaid`` blocks: GitHub and GitLab draw them)."""
    lines = [f"{heading} {title}", "", "| service | resources |", "|---|---|"]
    lines += [f"| `{s.name}` | {s.describe()} |" for s in domain.services]
    lines += ["", "References across services:", "", "```mermaid", domain.diagram.rstrip("\n"), "```", ""]
    for s in domain.services:
        lines += [f"{heading}# {s.name}", "", "```mermaid", s.diagram.rstrip("\n"), "```", ""]
    return lines
