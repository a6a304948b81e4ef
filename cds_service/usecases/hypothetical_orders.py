"""The hypothetical orders behind the patient-view readiness card: "what if this were ordered today?".

Pure: a record, the policy's value sets and a date in; draft ServiceRequests out. The engine then decides
them exactly as it decides real orders at order-sign, so readiness and order-sign cannot disagree.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_service.evaluation import clinical
from cds_service.evaluation.procedures import body_site_region, level_names
from cds_service.evaluation.record import PatientRecord
from cds_service.policy.conventions import CPT, DIAGNOSTIC_INTENT, SNOMED, THERAPEUTIC_INTENT
from cds_service.policy.valuesets import ValueSets

# Regions in reading order. Thoracic is listed when the diagnoses show it: the policy does not cover it,
# and the card says so rather than staying silent about a region the record shows.
REGIONS = ("lumbar", "cervical", "thoracic")
COVERED_REGIONS = ("lumbar", "cervical")
# Codes per region: the fluoroscopic injection and the RF primary (contract §4 "In scope").
INJECTION_CODE = {"lumbar": "64493", "cervical": "64490", "thoracic": "64490"}
RF_CODE = {"lumbar": "64635", "cervical": "64633", "thoracic": "64633"}
CODE_DISPLAY = {
    "64493": "Facet joint injection, fluoroscopy or CT guided, lumbar or sacral; single level",
    "64490": "Facet joint injection, fluoroscopy or CT guided, cervical or thoracic; single level",
    "64635": "Facet RF neurotomy, lumbar or sacral; single facet joint",
    "64633": "Facet RF neurotomy, cervical or thoracic; single facet joint",
}
# The level assumed when the record has no earlier facet procedure in the region.
DEFAULT_LEVEL = {"lumbar": "L4-L5", "cervical": "C5-C6", "thoracic": "T7-T8"}
LEVEL_LETTERS = {"lumbar": ("L", "S"), "cervical": ("C",), "thoracic": ("T",)}
MAX_LEVELS = 3  # the policy's per-session limit: assuming more would only test the limit itself


@dataclass(frozen=True)
class Intervention:
    key: str  # block | rf | therapeutic
    code_by_region: dict[str, str]
    intent: tuple[str, str] | None  # SNOMED (code, display) stated in orderDetail; RF needs none


BLOCK = Intervention("block", INJECTION_CODE, (DIAGNOSTIC_INTENT, "Diagnostic intent"))
RF = Intervention("rf", RF_CODE, None)  # initial or repeat: the engine decides from the RF history
THERAPEUTIC = Intervention("therapeutic", INJECTION_CODE, (THERAPEUTIC_INTENT, "Therapeutic intent"))
INTERVENTIONS = (BLOCK, RF, THERAPEUTIC)


@dataclass(frozen=True)
class HypotheticalOrder:
    region: str
    intervention: Intervention
    order: dict[str, Any]


def has_spinal_pain(record: PatientRecord, valuesets: ValueSets, today: date) -> bool:
    """An active diagnosis from the value sets the engine uses for spinal pain: the gate against noise."""
    return bool(clinical.active_conditions_in(record, valuesets, clinical.SPINAL_PAIN_VALUESETS, today))


def readiness_regions(record: PatientRecord, valuesets: ValueSets, today: date) -> tuple[str, ...]:
    """The regions the diagnoses show; a spinal diagnosis without a region gets both covered regions."""
    shown = clinical.diagnosis_regions(record, valuesets, today)
    return tuple(r for r in REGIONS if r in shown) or COVERED_REGIONS


def planned_levels(record: PatientRecord, region: str, today: date) -> tuple[str, ...]:
    """The levels of the latest facet procedure done in the region (blocks and RF must match), else a default."""
    for prior in reversed(clinical.prior_facet_procedures(record, today)):
        sites = prior.resource.get("bodySite")
        levels = [name for name in level_names(sites) if name.startswith(LEVEL_LETTERS[region])]
        if levels and body_site_region(sites) == region:
            return tuple(levels[:MAX_LEVELS])
    return (DEFAULT_LEVEL[region],)


def hypothetical_orders(record: PatientRecord, valuesets: ValueSets, *, patient_id: str, today: date,
                        requester: str | None) -> list[HypotheticalOrder]:
    """One draft order per intervention and region, dated today, as the clinician would write it."""
    orders = []
    for region in readiness_regions(record, valuesets, today):
        levels = planned_levels(record, region, today)
        for intervention in INTERVENTIONS:
            order = _service_request(intervention, region, levels, patient_id=patient_id, today=today,
                                     requester=requester)
            orders.append(HypotheticalOrder(region, intervention, order))
    return orders


def _service_request(intervention: Intervention, region: str, levels: Sequence[str], *, patient_id: str,
                     today: date, requester: str | None) -> dict[str, Any]:
    code = intervention.code_by_region[region]
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": f"readiness-{region}-{intervention.key}",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": CPT, "code": code, "display": CODE_DISPLAY[code]}],
                 "text": CODE_DISPLAY[code]},
        "bodySite": [{"text": level} for level in levels],
        "occurrenceDateTime": today.isoformat(),
        "authoredOn": today.isoformat(),
    }
    if intervention.intent:
        intent_code, display = intervention.intent
        order["orderDetail"] = [{"coding": [{"system": SNOMED, "code": intent_code, "display": display}]}]
    if requester:
        order["requester"] = {"reference": requester}
    return order
