"""Small builders for synthetic FHIR resources in tests (all data invented).

The test-sized face of fhir_fixtures/builder.py: the same primitives (coding, concept, at, quantity,
status_concept, durations, calendar months) and the same codes (fhir_fixtures/codes.py), without the story bookkeeping.
Resources here are minimal (one subject `Patient/pt-test`, raw codes, no displays or tags) so a table test
shows exactly the fields it is about; the scenario stories use `fhir_fixtures.builder.Scenario` instead.
"""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

# `at` is imported as `_at`: procedure() and pain_score() take an `at=` time of day, as the tests call them
from fhir_fixtures.builder import add_months, days_before, duration_days, quantity, status_concept
from fhir_fixtures.builder import at as _at
from fhir_fixtures.codes import (
    CPT,
    DOS,
    FACET_CDS_CODES,
    ICD10CM,
    LOINC,
    QUESTIONNAIRE_BASE,
    RXNORM,
    SNOMED,
    C,
    coding,
    concept,
)

PATIENT = "pt-test"
_ids = itertools.count(1)
INTENT = {"diagnostic": C["diagnostic"].code, "therapeutic": C["therapeutic"].code}


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _intent(intent: str) -> dict[str, Any]:
    return concept(coding(SNOMED, INTENT["diagnostic"] if intent == "diagnostic" else INTENT["therapeutic"]))


def months_ago(n: int, day: date = DOS) -> date:
    return add_months(day, -n)


def days_ago(n: int, day: date = DOS) -> date:
    return days_before(day, n)


def subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT}"}


def patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PATIENT, "name": [{"family": "Testperson", "given": ["Alex"]}]}


def coverage(cid: str = "cov-1") -> dict[str, Any]:
    return {"resourceType": "Coverage", "id": cid, "status": "active", "beneficiary": subject(), "payor": [{"display": "Centene"}]}


def condition(code: str, onset: date | None, *, system: str = ICD10CM, status: str = "active", display: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "resourceType": "Condition", "id": _id("cond"), "subject": subject(),
        "clinicalStatus": status_concept("condition-clinical", status),
        "code": concept(coding(system, code, display)),
    }
    if onset:
        c["onsetDateTime"] = onset.isoformat()
    return c


def procedure(code: str, day: date, *, system: str = CPT, status: str = "completed", intent: str | None = None,
              levels: tuple[str, ...] = (), at: str = "09:00:00", pid: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {
        "resourceType": "Procedure", "id": pid or _id("proc"), "status": status, "subject": subject(),
        "code": concept(coding(system, code)),
        "performedDateTime": _at(day, at),
    }
    if intent:
        p["category"] = _intent(intent)
    if levels:
        p["bodySite"] = [{"text": lv} for lv in levels]
    return p


def pain_score(value: float, day: date, *, part_of: dict | None = None, at: str = "12:00:00") -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation", "id": _id("obs"), "status": "final", "subject": subject(),
        "code": concept(coding(LOINC, C["pain-nrs"].code)),
        "effectiveDateTime": _at(day, at), "valueInteger": int(value),
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
        "code": concept(coding(FACET_CDS_CODES, C["percent-relief"].code)),
        "partOf": [{"reference": f"Procedure/{block['id']}"}],
        "effectiveDateTime": block["performedDateTime"],
        "valueQuantity": quantity(value, "%"),
    }


def interference(value: float, day: date, code: str = C["pain-interference"].code) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": _id("int"), "status": "final", "subject": subject(),
        "code": concept(coding(LOINC, code)),
        "effectiveDateTime": _at(day, "12:00"), "valueInteger": int(value),
    }


def nsaid_statement(start: date, end: date, *, code: str = "5640", display: str = "ibuprofen", status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement", "id": _id("ms"), "status": status, "subject": subject(),
        "medicationCodeableConcept": concept(coding(RXNORM, code, display)),
        "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
    }


def nsaid_request(start: date, days: int, *, code: str = "197807", display: str = "ibuprofen 800 MG Oral Tablet") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "id": _id("mr"), "status": "completed", "intent": "order", "subject": subject(),
        "medicationCodeableConcept": concept(coding(RXNORM, code, display)),
        "authoredOn": start.isoformat(),
        "dispenseRequest": {"expectedSupplyDuration": duration_days(days)},
    }


def pt_sessions(first: date, span_days: int, count: int = 4, code: str = "97110") -> list[dict]:
    step = span_days / max(count - 1, 1)
    return [procedure(code, first + timedelta(days=round(i * step))) for i in range(count)]


def attestation(answers: dict[str, bool], *, revision: str = "2026-05", authored: date = DOS) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse", "id": _id("qr"), "status": "completed", "subject": subject(),
        "questionnaire": f"{QUESTIONNAIRE_BASE}|{revision}",
        "authored": _at(authored, "10:00"),
        "item": [{"linkId": k, "answer": [{"valueBoolean": v}]} for k, v in answers.items()],
    }


def order(code: str = "64493", *, levels: tuple[str, ...] = ("L4-L5",), day: date | None = DOS, intent: str | None = None,
          oid: str | None = None, text: str | None = None, quantity: int | None = None, body_site_codes: tuple[str, ...] = ()) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": oid or _id("sr"), "status": "draft", "intent": "order", "subject": subject(),
        "requester": {"reference": "Practitioner/dr-test"},
        "code": concept(coding(CPT, code), text=text),
    }
    if day:
        o["occurrenceDateTime"] = day.isoformat()
    sites = [{"text": lv} for lv in levels] + [concept(coding(SNOMED, c)) for c in body_site_codes]
    if sites:
        o["bodySite"] = sites
    if intent:
        o["orderDetail"] = [_intent(intent)]
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
