"""The FHIR resource builder of the synthetic scenarios: one `Scenario` collects a patient's record, the draft
orders of one visit and the expected answers; resources get ids, dates and references from it.

Its primitives (`at`, `ref`, `quantity`, `duration_days`, `status_concept`, `add_months`, and `coding`/`concept`
in codes.py) are also what tests/support/fhir_builders.py and real_world/builders.py build with."""
from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fhir_fixtures.codes import (
    ATTESTATION_TEXT,
    DOS,
    FACET_CDS_CODES,
    HL7_TERM,
    LUMBAR_2,
    QUESTIONNAIRE_BASE,
    SYNTHETIC_MRN,
    SYNTHETIC_TAG,
    UCUM,
    C,
    Code,
)


# --- date helpers ----------------------------------------------------------------------------
def add_months(d: date, months: int) -> date:
    """Calendar-month arithmetic (stdlib only): 2026-03-31 + 1 month = 2026-04-30."""
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def at(day: date, hhmm: str = "09:00") -> str:
    """A FHIR dateTime with timezone on the given day ("HH:MM", or "HH:MM:SS")."""
    return f"{day.isoformat()}T{hhmm}{':00' if len(hhmm) == 5 else ''}Z"


def days_before(day: date, n: int) -> date:
    return day - timedelta(days=n)


def duration_days(days: int) -> dict:
    """A UCUM duration in days (MedicationRequest.dispenseRequest.expectedSupplyDuration)."""
    return {"value": days, "unit": "days", "system": UCUM, "code": "d"}


def ref(resource: dict) -> dict:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def quantity(value: float, unit: str = "{score}") -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def status_concept(system: str, code: str) -> dict:
    return {"coding": [{"system": f"{HL7_TERM}/{system}", "code": code}]}


# --- one scenario ----------------------------------------------------------------------------
@dataclass
class Scenario:
    """Collects one patient's record, the draft orders and the expected answers."""

    id: str
    tag: str
    purpose: str
    given: str
    family: str
    gender: str
    birth_date: str
    dos: date = DOS
    doctor: str = "Okonkwo"
    with_coverage: bool = True
    demo: bool = False
    record: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    expected: list[dict] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    _counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.patient = self.add(self.patient_resource())
        self.practitioner = self.add(self.practitioner_resource())
        self.coverage = self.add(self.coverage_resource()) if self.with_coverage else None

    # ids, dates, bookkeeping
    def new_id(self, kind: str) -> str:
        self._counts[kind] += 1
        return f"{self.tag}-{kind}-{self._counts[kind]}"

    def add(self, resource: dict) -> dict:
        resource.setdefault("meta", {"tag": [SYNTHETIC_TAG]})
        self.record.append(resource)
        return resource

    def ago(self, *, months: int = 0, days: int = 0) -> date:
        """A date before the date of service."""
        return add_months(self.dos, -months) - timedelta(days=days)

    @property
    def subject(self) -> dict:
        return ref(self.patient)

    # people and insurance
    def patient_resource(self) -> dict:
        return {
            "resourceType": "Patient",
            "id": f"{self.tag}-patient",
            "identifier": [{"system": SYNTHETIC_MRN, "value": f"SYN-{self.tag.upper()}"}],
            "name": [{"use": "official", "family": self.family, "given": [self.given]}],
            "gender": self.gender,
            "birthDate": self.birth_date,
        }

    def practitioner_resource(self) -> dict:
        return {
            "resourceType": "Practitioner",
            "id": f"dr-{self.tag}-{self.doctor.lower()}",
            "name": [{"family": self.doctor, "prefix": ["Dr."]}],
            "qualification": [{"code": {"coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": "MD",
                 "display": "Doctor of Medicine"}]}}],
        }

    def coverage_resource(self) -> dict:
        return {
            "resourceType": "Coverage",
            "id": f"{self.tag}-coverage",
            "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                 "code": "HIP", "display": "health insurance plan policy"}]},
            "subscriberId": f"SYN{self.tag.upper()}0001",
            "beneficiary": self.subject,
            "relationship": {"coding": [{"system": f"{HL7_TERM}/subscriber-relationship", "code": "self"}]},
            "period": {"start": date(self.dos.year - 1, 1, 1).isoformat()},
            "payor": [{"display": "Synthetic Demo Health Plan"}],
            "class": [{"type": {"coding": [{"system": f"{HL7_TERM}/coverage-class", "code": "plan"}]},
                       "value": "SYN-PLAN-171", "name": "Synthetic Demo Silver Plan"}],
        }

    # clinical record builders
    def condition(self, *codes: Code, onset: date | None, body_site: str | None = None,
                  note: str | None = None, clinical_status: str = "active") -> dict:
        resource = {
            "resourceType": "Condition",
            "id": self.new_id("cond"),
            "clinicalStatus": status_concept("condition-clinical", clinical_status),
            "verificationStatus": status_concept("condition-ver-status", "confirmed"),
            "category": [status_concept("condition-category", "problem-list-item")],
            "code": {"coding": [c.coding() for c in codes], "text": codes[0].display},
            "subject": self.subject,
        }
        if body_site:
            resource["bodySite"] = [{"text": body_site}]
        if onset:
            resource["onsetDateTime"] = onset.isoformat()
            resource["recordedDate"] = onset.isoformat()
        if note:
            resource["note"] = [{"text": note}]
        return self.add(resource)

    def observation(self, code: Code, when: str, value: dict, *, part_of: dict | None = None,
                    marker: str | None = None) -> dict:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.new_id("obs"),
            "status": "final",
            "category": [status_concept("observation-category", "survey")],
            "code": code.concept(),
            "subject": self.subject,
            "effectiveDateTime": when,
            "valueQuantity": value,
        }
        if marker:  # the documented pre-/post-procedure marker (CRITERIA.md "Relief after a block")
            resource["category"].append({"coding": [{"system": FACET_CDS_CODES, "code": marker}]})
        if part_of:
            resource["partOf"] = [ref(part_of)]
        return self.add(resource)

    def pain_score(self, value: int, when: str, part_of: dict | None = None, marker: str | None = None) -> dict:
        return self.observation(C["pain-nrs"], when, quantity(value), part_of=part_of, marker=marker)

    def interference(self, value: int, when: str, part_of: dict | None = None) -> dict:
        """Pain interference with daily activities (BPI 0-10): the ADL evidence for I.A.1.a."""
        return self.observation(C["pain-interference"], when, quantity(value), part_of=part_of)

    def percent_relief(self, percent: float, when: str, part_of: dict) -> dict:
        return self.observation(C["percent-relief"], when, quantity(percent, "%"), part_of=part_of,
                                marker="post-procedure")

    def procedure(self, code: Code, performed: str, *, levels: Iterable[str] = (), intent: str | None = None,
                  status: str = "completed", status_reason: str | None = None,
                  region: Code | None = None, kind: str = "proc") -> dict:
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": self.new_id(kind),
            "status": status,
        }
        if status_reason:
            resource["statusReason"] = {"text": status_reason}
        if intent:
            resource["category"] = C[intent].concept()
        resource.update({
            "code": code.concept(),
            "subject": self.subject,
            "performedDateTime": performed,
            "performer": [{"actor": ref(self.practitioner)}],
        })
        if levels:
            resource["bodySite"] = [body_site(level, region) for level in levels]
        return self.add(resource)

    def pt_session(self, day: date, code: str = "97110", status: str = "completed",
                   reason: str | None = None) -> dict:
        return self.procedure(C[code], day.isoformat(), status=status, status_reason=reason, kind="pt")

    def pt_course(self, first: date, span_days: int, every: int = 7) -> None:
        """Completed PT from `first` to `first + span_days` (an evaluation, then weekly sessions)."""
        days = list(range(0, span_days, every)) + [span_days]
        treatments = ["97110", "97140", "97530"]
        for i, offset in enumerate(days):
            self.pt_session(first + timedelta(days=offset), "97161" if i == 0 else treatments[i % 3])

    def nsaid_statement(self, med: str, start: date, end: date, status: str = "completed") -> dict:
        """NSAID use; the effectivePeriod end is inclusive (FHIR Period): 06-01..06-21 = 21 days."""
        return self.add({
            "resourceType": "MedicationStatement",
            "id": self.new_id("nsaid"),
            "status": status,
            "medicationCodeableConcept": C[med].concept(),
            "subject": self.subject,
            "effectivePeriod": {"start": start.isoformat(), "end": end.isoformat()},
            "dateAsserted": at(end, "12:00"),
        })

    def nsaid_request(self, med: str, start: date, end: date) -> dict:
        """A prescription whose validity period and expected supply cover the same inclusive days."""
        days = (end - start).days + 1
        return self.add({
            "resourceType": "MedicationRequest",
            "id": self.new_id("rx"),
            "status": "completed",
            "intent": "order",
            "medicationCodeableConcept": C[med].concept(),
            "subject": self.subject,
            "authoredOn": start.isoformat(),
            "requester": ref(self.practitioner),
            "dosageInstruction": [{"text": "1 tablet by mouth twice daily with food"}],
            "dispenseRequest": {
                "validityPeriod": {"start": start.isoformat(), "end": end.isoformat()},
                "expectedSupplyDuration": duration_days(days),
            },
        })

    def nsaid_allergy(self, med: str, recorded: date, reaction: str) -> dict:
        return self.add({
            "resourceType": "AllergyIntolerance",
            "id": self.new_id("allergy"),
            "clinicalStatus": status_concept("allergyintolerance-clinical", "active"),
            "verificationStatus": status_concept("allergyintolerance-verification", "confirmed"),
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": C[med].concept(),
            "patient": self.subject,
            "recordedDate": recorded.isoformat(),
            "reaction": [{"manifestation": [{"text": reaction}]}],
        })

    def device(self, code: str) -> dict:
        return self.add({
            "resourceType": "Device",
            "id": self.new_id("device"),
            "status": "active",
            "type": C[code].concept(),
            "patient": self.subject,
        })

    def block(self, code: str, day: date, *, levels: Iterable[str] = LUMBAR_2, intent: str | None = None,
              region: Code | None = None, before: int | None = 8, after: int | None = 1) -> dict:
        """A completed facet block at 09:00Z with its pain scores at 08:30Z (before) and 10:30Z (after).

        No `intent` means no category: the engine reads an uncoded prior block as diagnostic.
        """
        proc = self.procedure(C[code], at(day), levels=levels, intent=intent, region=region, kind="block")
        self.relief(proc, day, before, after)
        return proc

    def relief(self, proc: dict, day: date, before: int | None, after: int | None) -> None:
        if before is not None:
            self.pain_score(before, at(day, "08:30"), part_of=proc, marker="pre-procedure")
        if after is not None:
            self.pain_score(after, at(day, "10:30"), part_of=proc, marker="post-procedure")

    def rf(self, day: date, *, levels: Iterable[str] = LUMBAR_2, code: str = "64635") -> dict:
        return self.procedure(C[code], at(day), levels=levels, kind="rf")

    def follow_up(self, proc: dict, scores: dict[int | tuple[int, int], int]) -> None:
        """Pain scores after a procedure: {months: score} or {(months, extra days): score}."""
        performed = date.fromisoformat(proc["performedDateTime"][:10])
        for offset, score in scores.items():
            months, days = offset if isinstance(offset, tuple) else (offset, 0)
            when = add_months(performed, months) + timedelta(days=days)
            self.pain_score(score, at(when, "10:00"), part_of=proc, marker="post-procedure")

    def attestation(self, revision: str, items: dict[str, bool], authored: date | None = None,
                    texts: dict[str, str] | None = None) -> dict:
        """One QuestionnaireResponse; `texts` names items whose meaning differs by revision (e.g. 06/24 I.A.1.b.ii)."""
        return self.add({
            "resourceType": "QuestionnaireResponse",
            "id": self.new_id("qr"),
            "questionnaire": f"{QUESTIONNAIRE_BASE}|{revision}",
            "status": "completed",
            "subject": self.subject,
            "authored": at(authored or self.ago(days=2), "14:00"),
            "author": ref(self.practitioner),
            "item": [{"linkId": link_id, "text": (texts or {}).get(link_id) or ATTESTATION_TEXT.get(link_id, link_id),
                      "answer": [{"valueBoolean": answer}]} for link_id, answer in items.items()],
        })

    # draft orders
    def draft_order(self, code: str, *, levels: Iterable[str] = (), intent: str | None = None,
                    region: Code | None = None, text: str | None = None, quantity_value: int | None = None,
                    day: date | None = None, requester: bool = True, reasons: Iterable[dict] = ()) -> dict:
        """A draft ServiceRequest. Put every level on the primary order; add-ons carry none."""
        order: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": self.new_id("order"),
            "meta": {"tag": [SYNTHETIC_TAG]},
            "status": "draft",
            "intent": "order",
            "code": C[code].concept(text),
            "subject": self.subject,
            "occurrenceDateTime": (day or self.dos).isoformat(),
            "authoredOn": (day or self.dos).isoformat(),
        }
        if requester:
            order["requester"] = ref(self.practitioner)
        if quantity_value is not None:
            order["quantityQuantity"] = {"value": quantity_value}
        if intent:
            order["orderDetail"] = [C[intent].concept()]
        if levels:
            order["bodySite"] = [body_site(level, region) for level in levels]
        if reasons:
            order["reasonReference"] = [ref(r) for r in reasons]
        if self.coverage:
            order["insurance"] = [ref(self.coverage)]
        self.orders.append(order)
        return order

    def expect(self, revision: str | None, decision: str, criteria: dict[str, str]) -> None:
        self.expected.append({"revision": revision, "decision": decision, "criteria": criteria})

    def document(self) -> dict:
        doc: dict[str, Any] = {"id": self.id, "purpose": self.purpose, "patientId": self.patient["id"]}
        if self.demo:
            doc["demo"] = True
        if self.malformed:
            doc["malformedResourceIds"] = self.malformed
        doc["record"] = bundle(f"{self.tag}-record", self.record)
        doc["draftOrders"] = bundle(f"{self.tag}-draft-orders", self.orders)
        doc["expected"] = self.expected
        return doc


def body_site(level: str, region: Code | None = None) -> dict:
    site: dict[str, Any] = {"text": level}
    if region:
        site = {"coding": [region.coding()], "text": level}
    return site


def bundle(bundle_id: str, resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "id": bundle_id, "type": "collection",
            "entry": [{"resource": r} for r in resources]}



Story = Callable[[], Scenario]


def registry() -> tuple[list[Story], Callable[[Story], Story]]:
    """A topic module's list of stories and the decorator that appends to it (in source order)."""
    stories: list[Story] = []

    def scenario(fn: Story) -> Story:
        stories.append(fn)
        return fn

    return stories, scenario
