"""Small builders for synthetic FHIR resources in tests (all data invented)."""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from cds_service.evaluation.dates import add_months
from cds_service.policy.conventions import (
    CPT,
    DIAGNOSTIC_INTENT,
    FACET_CDS_CODES,
    ICD10CM,
    LOINC,
    PAIN_SCORE_LOINC,
    PERCENT_RELIEF_CODE,
    RXNORM,
    SNOMED,
    THERAPEUTIC_INTENT,
)

DOS = date(2026, 11, 20)
PATIENT = "pt-test"
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def months_ago(n: int, day: date = DOS) -> date:
    return add_months(day, -n)


def days_ago(n: int, day: date = DOS) -> date:
    return day - timedelta(days=n)


def subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT}"}


def patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PATIENT, "name": [{"family": "Testperson", "given": ["Alex"]}]}


def coverage(cid: str = "cov-1") -> dict[str, Any]:
    return {"resourceType": "Coverage", "id": cid, "status": "active", "beneficiary": subject(), "payor": [{"display": "Centene"}]}


def condition(code: str, onset: date | None, *, system: str = ICD10CM, status: str = "active", display: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "resourceType": "Condition", "id": _id("cond"), "subject": subject(),
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]},
        "code": {"coding": [{"system": system, "code": code, **({"display": display} if display else {})}]},
    }
    if onset:
        c["onsetDateTime"] = onset.isoformat()
    return c


def procedure(code: str, day: date, *, system: str = CPT, status: str = "completed", intent: str | None = None,
              levels: tuple[str, ...] = (), at: str = "09:00:00", pid: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {
        "resourceType": "Procedure", "id": pid or _id("proc"), "status": status, "subject": subject(),
        "code": {"coding": [{"system": system, "code": code}]},
        "performedDateTime": f"{day.isoformat()}T{at}Z",
    }
    if intent:
        p["category"] = {"coding": [{"system": SNOMED, "code": DIAGNOSTIC_INTENT if intent == "diagnostic" else THERAPEUTIC_INTENT}]}
    if levels:
        p["bodySite"] = [{"text": lv} for lv in levels]
    return p


def pain_score(value: float, day: date, *, part_of: dict | None = None, at: str = "12:00:00") -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation", "id": _id("obs"), "status": "final", "subject": subject(),
        "code": {"coding": [{"system": LOINC, "code": PAIN_SCORE_LOINC}]},
        "effectiveDateTime": f"{day.isoformat()}T{at}Z", "valueInteger": int(value),
    }
    if part_of:
        o["partOf"] = [{"reference": f"Procedure/{part_of['id']}"}]
    return o


def block_with_relief(day: date, before: float, after: float, *, code: str = "64493", levels=("L4-L5",), intent=None) -> list[dict]:
    """A completed block with a pain score before (08:30) and after (10:30) it."""
    blk = procedure(code, day, levels=levels, intent=intent)
    return [blk, pain_score(before, day, part_of=blk, at="08:30:00"), pain_score(after, day, part_of=blk, at="10:30:00")]


def percent_relief(value: float, block: dict) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": _id("rel"), "status": "final", "subject": subject(),
        "code": {"coding": [{"system": FACET_CDS_CODES, "code": PERCENT_RELIEF_CODE}]},
        "partOf": [{"reference": f"Procedure/{block['id']}"}],
        "effectiveDateTime": block["performedDateTime"],
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }


def interference(value: float, day: date, code: str = "77565-0") -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": _id("int"), "status": "final", "subject": subject(),
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": f"{day.isoformat()}T12:00:00Z", "valueInteger": int(value),
    }


def nsaid_statement(start: date, end: date, *, code: str = "5640", display: str = "ibuprofen", status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement", "id": _id("ms"), "status": status, "subject": subject(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
    }


def nsaid_request(start: date, days: int, *, code: str = "197807", display: str = "ibuprofen 800 MG Oral Tablet") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "id": _id("mr"), "status": "completed", "intent": "order", "subject": subject(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        "authoredOn": start.isoformat(),
        "dispenseRequest": {"expectedSupplyDuration": {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}},
    }


def pt_sessions(first: date, span_days: int, count: int = 4, code: str = "97110") -> list[dict]:
    step = span_days / max(count - 1, 1)
    return [procedure(code, first + timedelta(days=round(i * step))) for i in range(count)]


def attestation(answers: dict[str, bool], *, revision: str = "2026-05", authored: date = DOS) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse", "id": _id("qr"), "status": "completed", "subject": subject(),
        "questionnaire": f"https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|{revision}",
        "authored": f"{authored.isoformat()}T10:00:00Z",
        "item": [{"linkId": k, "answer": [{"valueBoolean": v}]} for k, v in answers.items()],
    }


def order(code: str = "64493", *, levels: tuple[str, ...] = ("L4-L5",), day: date | None = DOS, intent: str | None = None,
          oid: str | None = None, text: str | None = None, quantity: int | None = None, body_site_codes: tuple[str, ...] = ()) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": oid or _id("sr"), "status": "draft", "intent": "order", "subject": subject(),
        "requester": {"reference": "Practitioner/dr-test"},
        "code": {"coding": [{"system": CPT, "code": code}], **({"text": text} if text else {})},
    }
    if day:
        o["occurrenceDateTime"] = day.isoformat()
    sites = [{"text": lv} for lv in levels] + [{"coding": [{"system": SNOMED, "code": c}]} for c in body_site_codes]
    if sites:
        o["bodySite"] = sites
    if intent:
        o["orderDetail"] = [{"coding": [{"system": SNOMED, "code": DIAGNOSTIC_INTENT if intent == "diagnostic" else THERAPEUTIC_INTENT}]}]
    if quantity is not None:
        o["quantityQuantity"] = {"value": quantity}
    return o


def documented_first_block() -> list[dict]:
    """A record in which a first lumbar diagnostic block meets every structured 05/26 criterion."""
    return [
        patient(), coverage(),
        condition("M47.816", months_ago(8)),
        *pt_sessions(months_ago(5), 35),
        nsaid_statement(months_ago(6), months_ago(6) + timedelta(days=29)),
        interference(6, days_ago(20)),
        pain_score(7, days_ago(10)),
    ]
