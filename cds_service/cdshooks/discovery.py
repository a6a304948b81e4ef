"""The discovery document (GET /cds-services): one service per hook, prefetch templates, CRD extensions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.fhir_access.queries import PREFETCH_TEMPLATES


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str = ""


ORDER_SELECT = ServiceDefinition(
    "facet-order-select", "order-select", "Facet joint interventions: early policy check (CP.MP.171)",
    "While a facet joint intervention is being chosen, flags what CP.MP.171 already rules out: thoracic or "
    "pulsed-RF procedures, ultrasound guidance, more than three levels, too-short intervals.",
)
ORDER_SIGN = ServiceDefinition(
    "facet-order-sign", "order-sign", "Facet joint interventions: coverage check (CP.MP.171)",
    "Evaluates every criterion of CP.MP.171 (the revision in force on the date of service) for medial branch "
    "blocks, facet injections and RF neurotomy; returns the per-criterion result, suggestions and Da Vinci CRD "
    "coverage-information.",
)
PATIENT_VIEW = ServiceDefinition(
    "facet-patient-view", "patient-view", "Facet joint interventions: readiness (CP.MP.171)",
    "For patients with spinal pain diagnoses: would a facet block, RF neurotomy or therapeutic injection ordered "
    "today meet CP.MP.171, and if not, which criteria stand in the way.",
)

CARD_TYPES = ("coverage-info", "guideline", "therapy-alternatives-req")


def _crd_extension() -> dict[str, Any]:
    options = [
        {"code": code, "type": "boolean", "name": f"Return {code} responses",
         "description": f"false: no {code} responses are returned", "default": True}
        for code in CARD_TYPES
    ]
    return {"davinci-crd.version": ["2.2"], "davinci-crd.configuration-options": options}


def discovery_document(services: list[ServiceDefinition]) -> dict[str, Any]:
    out = []
    for s in services:
        entry: dict[str, Any] = {"hook": s.hook, "id": s.id, "title": s.title, "description": s.description,
                                 "prefetch": dict(PREFETCH_TEMPLATES)}
        if s.hook in ("order-select", "order-sign"):
            entry["extension"] = _crd_extension()
        out.append(entry)
    return {"services": out}
