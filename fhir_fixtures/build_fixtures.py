"""Build the synthetic CP.MP.171 scenario files in fhir_fixtures/scenarios/.

Every patient, name, identifier and date here is invented. Run from the repository root:

    .venv/bin/python fhir_fixtures/build_fixtures.py           # write the files, then self-check
    .venv/bin/python fhir_fixtures/build_fixtures.py --check   # self-check the files on disk only

Each scenario is one small function that tells a patient's story with builder calls
(``s.condition(...)``, ``s.pt_course(...)``, ``s.block(...)``, ``s.draft_order(...)``) and then
states what the engine must answer (``s.expect(...)``). Dates are computed from a fixed date of
service, so the output is deterministic. Expected results follow
cds_service/policy/data/cp-mp-171/CRITERIA.md literally.
"""
from __future__ import annotations

import argparse
import calendar
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "scenarios"
README = HERE / "README.md"
TABLE_START, TABLE_END = "<!-- scenarios:start -->", "<!-- scenarios:end -->"
VALUESETS = HERE.parent.parent / "shared" / "reference" / "valuesets-draft.json"

# --- code systems (the same values as cds_service/conventions.py; duplicated so this script
# runs without importing the service package) -------------------------------------------------
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
FACET_CDS_CODES = "https://facet-cds.example.org/fhir/CodeSystem/facet-cds"
QUESTIONNAIRE_BASE = "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171"
SYNTHETIC_MRN = "https://facet-cds.example.org/fhir/sid/synthetic-mrn"
HL7_TERM = "http://terminology.hl7.org/CodeSystem"
SYNTHETIC_TAG = {"system": f"{HL7_TERM}/v3-ActReason", "code": "HTEST", "display": "test health data"}

DOS = date(2026, 11, 20)  # the date of service of (almost) every scenario
REV_2026 = "2026-05"
REV_2019 = "2019"

MET, NOT_MET, DOC, NA = "met", "not-met", "needs-documentation", "not-applicable"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict:
        return {"system": self.system, "code": self.code, "display": self.display}

    def concept(self, text: str | None = None) -> dict:
        return {"coding": [self.coding()], "text": text or self.display}


# Clinical codes: only codes marked verified yes/secondary in shared/reference/valuesets-draft.json
# (the self-check enforces it), plus the epidural code 62323 that the contract names.
C = {
    # facet procedures (displays shortened from the policy's CPT tables)
    "64490": Code(CPT, "64490", "Facet joint injection, fluoroscopy/CT, cervical or thoracic; single level"),
    "64491": Code(CPT, "64491", "Facet joint injection, fluoroscopy/CT, cervical or thoracic; second level"),
    "64493": Code(CPT, "64493", "Facet joint injection, fluoroscopy/CT, lumbar or sacral; single level"),
    "64494": Code(CPT, "64494", "Facet joint injection, fluoroscopy/CT, lumbar or sacral; second level"),
    "64495": Code(
        CPT, "64495", "Facet joint injection, fluoroscopy/CT, lumbar or sacral; third and any additional level(s)"
    ),
    "64633": Code(
        CPT, "64633", "Facet joint nerve destruction (RF), fluoroscopy/CT, cervical or thoracic; single joint"
    ),
    "64635": Code(CPT, "64635", "Facet joint nerve destruction (RF), fluoroscopy/CT, lumbar or sacral; single joint"),
    "64636": Code(
        CPT, "64636", "Facet joint nerve destruction (RF), fluoroscopy/CT, lumbar or sacral; each additional joint"
    ),
    "0216T": Code(CPT, "0216T", "Facet joint injection, ultrasound guidance, lumbar or sacral; single level"),
    "64999": Code(CPT, "64999", "Unlisted procedure, nervous system"),
    "62323": Code(CPT, "62323", "Injection, interlaminar epidural, lumbar or sacral, with imaging guidance"),
    # physical therapy
    "97161": Code(CPT, "97161", "Physical therapy evaluation: low complexity"),
    "97110": Code(CPT, "97110", "Therapeutic procedure, each 15 minutes; therapeutic exercises"),
    "97140": Code(CPT, "97140", "Manual therapy techniques, each 15 minutes"),
    "97530": Code(CPT, "97530", "Therapeutic activities, each 15 minutes"),
    # imaging order (out of scope)
    "mri-lumbar": Code(LOINC, "30679-5", "MR Lumbar spine WO contrast"),
    # spinal pain and facet-pain diagnoses
    "low-back-pain": Code(ICD10CM, "M54.50", "Low back pain, unspecified"),
    "low-back-pain-sct": Code(SNOMED, "279039007", "Low back pain"),
    "lumbar-spondylosis": Code(ICD10CM, "M47.816", "Spondylosis without myelopathy or radiculopathy, lumbar region"),
    "cervicalgia": Code(ICD10CM, "M54.2", "Cervicalgia"),
    "neck-pain-sct": Code(SNOMED, "81680005", "Neck pain"),
    "cervical-spondylosis": Code(
        ICD10CM, "M47.812", "Spondylosis without myelopathy or radiculopathy, cervical region"
    ),
    "thoracic-pain": Code(ICD10CM, "M54.6", "Pain in thoracic spine"),
    "thoracic-spondylosis": Code(
        ICD10CM, "M47.814", "Spondylosis without myelopathy or radiculopathy, thoracic region"
    ),
    # 05/26 I.A.1.c exclusions
    "vertebral-fracture": Code(
        SNOMED, "203450003", "Osteoporosis with pathological fracture of lumbar vertebrae (disorder)"
    ),
    "vertebral-tumour": Code(ICD10CM, "C41.2", "Malignant neoplasm of vertebral column"),
    "vertebral-osteomyelitis": Code(ICD10CM, "M46.26", "Osteomyelitis of vertebra, lumbar region"),
    "lumbar-radiculopathy": Code(ICD10CM, "M54.16", "Radiculopathy, lumbar region"),
    "lumbar-myelopathy": Code(ICD10CM, "M47.16", "Other spondylosis with myelopathy, lumbar region"),
    "synovial-cyst": Code(ICD10CM, "M71.38", "Other bursal cyst, other site"),
    # NSAID contraindications
    "ckd-4": Code(ICD10CM, "N18.4", "Chronic kidney disease, stage 4 (severe)"),
    # not a candidate for RF (05/26 I.D.3)
    "neurostimulator": Code(ICD10CM, "Z96.82", "Presence of neurostimulator"),
    "pseudarthrosis": Code(ICD10CM, "M96.0", "Pseudarthrosis after fusion or arthrodesis"),
    "pacemaker-device": Code(SNOMED, "14106009", "Cardiac pacemaker, device (physical object)"),
    # NSAIDs (RxNorm ingredients and product examples)
    "ibuprofen": Code(RXNORM, "5640", "ibuprofen"),
    "naproxen": Code(RXNORM, "7258", "naproxen"),
    "meloxicam": Code(RXNORM, "41493", "meloxicam"),
    "ibuprofen-800": Code(RXNORM, "197807", "ibuprofen 800 MG Oral Tablet"),
    "naprosyn-500": Code(RXNORM, "105899", "naproxen 500 MG Oral Tablet [Naprosyn]"),
    # observations
    "pain-nrs": Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "pain-interference": Code(LOINC, "77565-0", "Pain interference score [BPI Short Form]"),
    "percent-relief": Code(FACET_CDS_CODES, "post-block-pain-relief-percent", "Percent pain relief after facet block"),
    # order / procedure intent and spine regions
    "diagnostic": Code(SNOMED, "261004008", "Diagnostic intent"),
    "therapeutic": Code(SNOMED, "262202000", "Therapeutic intent"),
    "cervical-spine": Code(SNOMED, "122494005", "Cervical spine structure"),
    "thoracic-spine": Code(SNOMED, "122495006", "Thoracic spine structure"),
    "lumbar-spine": Code(SNOMED, "122496007", "Lumbar spine structure"),
}

# Short titles for attestation items (the Questionnaire served by the service has the full text).
ATTESTATION_TEXT = {
    "I.A.1.a": "Pain has lasted at least 3 months and interferes with activities of daily living",
    "I.A.1.c": "Clinical findings suggest facet joint syndrome; imaging shows no other obvious cause",
    "I.A.1.f": "A radiofrequency denervation procedure is being considered",
    "I.A.2": "Pain interfering with ADLs has lasted at least 3 months",
    "I.A.3.c": "At least 6 weeks of activity modification",
    "I.A.3bis": "Clinical findings suggest facet joint syndrome; imaging shows no other obvious cause",
}

LUMBAR_2 = ("L4-L5", "L5-S1")


# --- date helpers ----------------------------------------------------------------------------
def add_months(d: date, months: int) -> date:
    """Calendar-month arithmetic (stdlib only): 2026-03-31 + 1 month = 2026-04-30."""
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def at(day: date, hhmm: str = "09:00") -> str:
    """A FHIR dateTime with timezone on the given day."""
    return f"{day.isoformat()}T{hhmm}:00Z"


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
                "expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
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

    def attestation(self, revision: str, items: dict[str, bool], authored: date | None = None) -> dict:
        return self.add({
            "resourceType": "QuestionnaireResponse",
            "id": self.new_id("qr"),
            "questionnaire": f"{QUESTIONNAIRE_BASE}|{revision}",
            "status": "completed",
            "subject": self.subject,
            "authored": at(authored or self.ago(days=2), "14:00"),
            "author": ref(self.practitioner),
            "item": [{"linkId": link_id, "text": ATTESTATION_TEXT.get(link_id, link_id),
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


# --- reusable parts of a story ---------------------------------------------------------------
def lumbar_pain(s: Scenario, onset_months: int = 14) -> list[dict]:
    """Chronic low back pain with lumbar facet spondylosis."""
    return [
        s.condition(C["low-back-pain"], C["low-back-pain-sct"], onset=s.ago(months=onset_months)),
        s.condition(C["lumbar-spondylosis"], onset=s.ago(months=max(onset_months - 4, 2))),
    ]


def neck_pain(s: Scenario) -> list[dict]:
    return [
        s.condition(C["cervicalgia"], C["neck-pain-sct"], onset=s.ago(months=11)),
        s.condition(C["cervical-spondylosis"], onset=s.ago(months=9)),
    ]


def thoracic_pain(s: Scenario) -> list[dict]:
    return [
        s.condition(C["thoracic-pain"], onset=s.ago(months=10)),
        s.condition(C["thoracic-spondylosis"], onset=s.ago(months=8)),
    ]


def conservative_care(s: Scenario, *, pt_days: int | None = 56, nsaid: str | None = "naproxen",
                      adl: bool = True, post_pain: int | None = 6) -> None:
    """The standard failed-conservative-care story within the past year.

    PT from DOS-200 days for `pt_days` days (56 = 8 weeks: enough for 2019's 6 weeks too),
    a 45-day NSAID course ending DOS-76, then pain still 6/10 and interfering with ADLs at DOS-21.
    """
    if pt_days is not None:
        s.pt_course(s.ago(days=200), pt_days)
    if nsaid:
        s.nsaid_statement(nsaid, s.ago(days=120), s.ago(days=76))
    if post_pain is not None:
        s.pain_score(post_pain, at(s.ago(days=21), "15:00"))
    if adl:
        s.interference(6, at(s.ago(days=21), "15:05"))


def dx_attestations(s: Scenario, *, adl: bool = False, rf_considered: bool = True) -> dict:
    """05/26 attestations of what no structured data can show (findings, RF being considered)."""
    items = {"I.A.1.c": True, "I.A.1.f": rf_considered}
    if adl:
        items = {"I.A.1.a": True, **items}
    return s.attestation(REV_2026, items)


def dx_attestations_2019(s: Scenario) -> dict:
    return s.attestation(REV_2019, {"I.A.2": True, "I.A.3.c": True, "I.A.3bis": True})


def documented_lumbar_candidate(s: Scenario, **care: Any) -> list[dict]:
    """A lumbar facet-pain patient with every 05/26 diagnostic-block criterion documented."""
    conditions = lumbar_pain(s)
    conservative_care(s, **care)
    dx_attestations(s)
    return conditions


def lumbar_injection_order(s: Scenario, levels: tuple[str, ...] = LUMBAR_2, intent: str | None = "diagnostic",
                    reasons: Iterable[dict] = (), **kwargs: Any) -> dict:
    """64493 (+64494 for the 2nd level, +64495 for 3rd and further) with all levels on the primary."""
    primary = s.draft_order("64493", levels=levels, intent=intent, reasons=reasons, **kwargs)
    if len(levels) >= 2:
        s.draft_order("64494", intent=intent, **kwargs)
    if len(levels) >= 3:
        s.draft_order("64495", intent=intent, **kwargs)
    return primary


def two_positive_blocks(s: Scenario, first: date, second: date, code: str = "64493",
                        levels: tuple[str, ...] = LUMBAR_2, region: Code | None = None) -> None:
    """Two diagnostic blocks, 87.5% and 85.7% relief (the first coded diagnostic, the second uncoded)."""
    s.block(code, first, levels=levels, intent="diagnostic", region=region, before=8, after=1)
    s.block(code, second, levels=levels, region=region, before=7, after=1)


# --- the scenarios ---------------------------------------------------------------------------
SCENARIOS: list[Callable[[], Scenario]] = []


def scenario(fn: Callable[[], Scenario]) -> Callable[[], Scenario]:
    SCENARIOS.append(fn)
    return fn


# Diagnostic blocks: the baseline and its documentation
@scenario
def dx_first_lumbar_covered() -> Scenario:
    s = Scenario(
        "dx-first-lumbar-covered",
        "s01",
        "First lumbar diagnostic block (L4-L5, L5-S1), every 05/26 criterion met; ADL, findings and RF-considered "
        "attested",
        "Marisol",
        "Quintero-Vance",
        "female",
        "1968-04-12",
        doctor="Okonkwo",
        demo=True,
    )
    conditions = lumbar_pain(s)
    conservative_care(s, adl=False)  # ADL interference is attested instead of measured
    dx_attestations(s, adl=True)
    lumbar_injection_order(s, reasons=conditions)
    s.expect(REV_2026, "covered", {
        "I": MET, "I.A": MET, "I.A.1": MET, "I.A.1.a": MET, "I.A.1.b": MET, "I.A.1.b.i": MET,
        "I.A.1.b.i Note": NA, "I.A.1.b.ii": MET, "I.A.1.c": MET, "I.A.1.d": MET, "I.A.1.e": NA,
        "I.A.1.f": MET, "I.A.1 Note": NA, "I.B": NA, "I.C": NA, "I.D": NA, "Table 2": NA,
    })
    # The 05/26 attestations do not answer the 2019 Questionnaire.
    s.expect(REV_2019, "conditional", {"I.A.2": DOC, "I.A.3.c": DOC, "I.A.3bis": DOC, "I.A.3.a": MET})
    return s


@scenario
def dx_first_lumbar_no_attestations() -> Scenario:
    s = Scenario(
        "dx-first-lumbar-no-attestations",
        "s02",
        "The same first lumbar block with no QuestionnaireResponse: conditional, naming I.A.1.a, I.A.1.c, I.A.1.f",
        "Theodore",
        "Blankenship",
        "male",
        "1959-09-03",
        doctor="Adeyemi",
        demo=True,
    )
    conditions = lumbar_pain(s)
    conservative_care(s, adl=False)
    lumbar_injection_order(s, reasons=conditions)
    s.expect(REV_2026, "conditional", {
        "I.A.1.a": DOC, "I.A.1.b": MET, "I.A.1.b.i": MET, "I.A.1.b.ii": MET, "I.A.1.c": DOC,
        "I.A.1.d": MET, "I.A.1.f": DOC,
    })
    return s


@scenario
def dx_pain_two_months() -> Scenario:
    s = Scenario(
        "dx-pain-two-months",
        "s03",
        "Back pain began only 2 months ago (attested 'yes' anyway): I.A.1.a not met, the record wins over the "
        "attestation",
        "Priya",
        "Ramaswamy-Holt",
        "female",
        "1981-01-27",
    )
    lumbar_pain(s, onset_months=2)
    s.pt_course(s.ago(days=50), 35)
    s.nsaid_statement("ibuprofen", s.ago(days=55), s.ago(days=25))
    s.pain_score(6, at(s.ago(days=7), "15:00"))
    s.interference(5, at(s.ago(days=7), "15:05"))
    dx_attestations(s, adl=True)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.a": NOT_MET, "I.A.1.b.i": MET, "I.A.1.b.ii": MET})
    return s


@scenario
def dx_no_post_therapy_pain_score() -> Scenario:
    s = Scenario(
        "dx-no-post-therapy-pain-score",
        "s04",
        "PT and NSAIDs done, but no pain score after them: failed conservative therapy (I.A.1.b) needs documentation",
        "Anselm",
        "Torvik",
        "male",
        "1972-06-30",
    )
    lumbar_pain(s)
    conservative_care(s, post_pain=None)
    s.pain_score(7, at(s.ago(days=230), "15:00"))  # before PT started: does not show failure of therapy
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "conditional", {"I.A.1.b": DOC, "I.A.1.b.i": MET, "I.A.1.b.ii": MET})
    return s


@scenario
def dx_no_requester() -> Scenario:
    s = Scenario(
        "dx-no-requester",
        "s05",
        "Fully documented first lumbar block, but the draft order names no requester or performer: I needs "
        "documentation",
        "Oona",
        "Featherstone",
        "female",
        "1975-11-02",
    )
    documented_lumbar_candidate(s)
    lumbar_injection_order(s, requester=False)
    s.expect(REV_2026, "conditional", {"I": DOC, "I.A": MET, "I.A.1": MET})
    return s


@scenario
def dx_rf_not_considered() -> Scenario:
    s = Scenario("dx-rf-not-considered", "s06",
                 "Clinician attests that RF denervation is NOT being considered: I.A.1.f not met",
                 "Casimir", "Wolankiewicz", "male", "1966-02-14")
    lumbar_pain(s)
    conservative_care(s)
    dx_attestations(s, rf_considered=False)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.f": NOT_MET, "I.A.1.c": MET})
    return s


# Conservative therapy: physical therapy
@scenario
def dx_pt_27_days() -> Scenario:
    s = Scenario("dx-pt-27-days", "s07",
                 "PT sessions span 27 days (first to last): one day short of 4 weeks, I.A.1.b.i not met",
                 "Lucinda", "Marchetti-Oyelaran", "female", "1970-08-19")
    lumbar_pain(s)
    conservative_care(s, pt_days=None)
    first = s.ago(days=150)
    for offset in (0, 7, 14, 21, 27):
        s.pt_session(first + timedelta(days=offset), "97161" if offset == 0 else "97110")
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.i": NOT_MET})
    return s


@scenario
def dx_pt_28_days() -> Scenario:
    s = Scenario("dx-pt-28-days", "s08",
                 "PT sessions span exactly 28 days: the 4-week edge is inclusive, I.A.1.b.i met, covered",
                 "Hollis", "Achterberg", "male", "1964-03-08")
    lumbar_pain(s)
    conservative_care(s, pt_days=None)
    first = s.ago(days=150)
    for offset in (0, 7, 14, 21, 28):
        s.pt_session(first + timedelta(days=offset), "97161" if offset == 0 else "97110")
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.i": MET})
    return s


@scenario
def dx_pt_five_weeks() -> Scenario:
    s = Scenario("dx-pt-five-weeks", "s09",
                 "35 days of PT: 05/26 (4 weeks) met and covered; the same record under 2019 (6 weeks) not met",
                 "Rosalind", "Ekwueme", "female", "1977-12-01")
    lumbar_pain(s)
    conservative_care(s, pt_days=35)
    dx_attestations(s)
    dx_attestations_2019(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.i": MET})
    s.expect(REV_2019, "not-covered", {"I.A.3.a": NOT_MET})
    return s


@scenario
def dx_pt_not_tolerated() -> Scenario:
    s = Scenario(
        "dx-pt-not-tolerated",
        "s10",
        "PT stopped at the first session with a recorded reason (could not tolerate): I.A.1.b.i met by intolerance",
        "Genevieve",
        "Strandquist",
        "female",
        "1958-05-23",
    )
    lumbar_pain(s)
    s.pt_session(s.ago(days=150), "97110", status="stopped",
                 reason="Unable to tolerate therapeutic exercise: severe pain flare during the first session")
    s.nsaid_statement("naproxen", s.ago(days=120), s.ago(days=76))
    s.pain_score(7, at(s.ago(days=21), "15:00"))
    s.interference(6, at(s.ago(days=21), "15:05"))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.i": MET, "I.A.1.b": MET})
    return s


# Conservative therapy: NSAIDs
@scenario
def dx_nsaid_20_days() -> Scenario:
    s = Scenario("dx-nsaid-20-days", "s11",
                 "One NSAID course of 20 days (2026-08-01..2026-08-20, end inclusive): I.A.1.b.ii not met",
                 "Bartholomew", "Nakashima-Reid", "male", "1969-10-10")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_statement("ibuprofen", s.ago(days=111), s.ago(days=92))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.ii": NOT_MET})
    return s


@scenario
def dx_nsaid_21_days() -> Scenario:
    s = Scenario("dx-nsaid-21-days", "s12",
                 "One NSAID course of exactly 21 days (2026-08-01..2026-08-21, end inclusive): I.A.1.b.ii met, covered",
                 "Winifred", "Osei-Lindgren", "female", "1973-07-04")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_statement("ibuprofen", s.ago(days=111), s.ago(days=91))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_recorded_twice() -> Scenario:
    s = Scenario(
        "dx-nsaid-recorded-twice",
        "s13",
        "Two overlapping NSAID courses, each recorded as a statement and a prescription: union is 18 days, not met",
        "Evander",
        "Pulaski-Mbeki",
        "male",
        "1962-01-19",
    )
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    # course A: 12 days; course B: 11 days overlapping A by 5; union = 18 days (sum of records = 46)
    a_start, a_end = s.ago(days=110), s.ago(days=99)
    b_start, b_end = s.ago(days=103), s.ago(days=93)
    s.nsaid_statement("ibuprofen-800", a_start, a_end)
    s.nsaid_request("ibuprofen-800", a_start, a_end)
    s.nsaid_statement("naprosyn-500", b_start, b_end)
    s.nsaid_request("naprosyn-500", b_start, b_end)
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.ii": NOT_MET})
    return s


@scenario
def dx_nsaid_prescription_only() -> Scenario:
    s = Scenario("dx-nsaid-prescription-only", "s14",
                 "NSAID evidence only as a 30-day MedicationRequest of a product code (ibuprofen 800 MG tablet): met",
                 "Imogen", "Castellanos-Pryce", "female", "1979-03-15")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_request("ibuprofen-800", s.ago(days=130), s.ago(days=101))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_allergy() -> Scenario:
    s = Scenario("dx-nsaid-allergy", "s15",
                 "No NSAID ever taken, but an ibuprofen allergy is recorded: I.A.1.b.ii met by contraindication",
                 "Ferdinand", "Ashworth-Adebayo", "male", "1961-11-29")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_allergy("ibuprofen", s.ago(months=30), "Angioedema and urticaria")
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_ckd4() -> Scenario:
    s = Scenario("dx-nsaid-ckd4", "s16",
                 "No NSAID taken; chronic kidney disease stage 4 (N18.4) contraindicates them: I.A.1.b.ii met",
                 "Clementine", "Vasquez-Holloway", "female", "1955-02-21")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.condition(C["ckd-4"], onset=s.ago(months=40))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_straddles_lookback() -> Scenario:
    s = Scenario("dx-nsaid-straddles-lookback", "s17",
                 "A 50-day NSAID course ending 10 days into the 12-month look-back: only those days count, not met",
                 "Ludovic", "Haraldsen", "male", "1967-04-05")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    lookback_start = s.ago(months=12)  # 2025-11-20
    s.nsaid_statement("meloxicam", lookback_start - timedelta(days=40), lookback_start + timedelta(days=9))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.ii": NOT_MET})
    return s


@scenario
def dx_nsaid_before_lookback() -> Scenario:
    s = Scenario(
        "dx-nsaid-before-lookback",
        "s18",
        "The only NSAID course ended before the 12-month look-back: no NSAID use in the past year, needs documentation",
        "Perpetua",
        "Odhiambo-Stein",
        "female",
        "1963-09-09",
    )
    lumbar_pain(s, onset_months=18)
    conservative_care(s, nsaid=None)
    s.nsaid_statement("naproxen", s.ago(months=16), s.ago(months=14))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "conditional", {"I.A.1.b.ii": DOC})
    return s


# Clinical findings and exclusions (I.A.1.c)
def excluded_candidate(sid: str, tag: str, purpose: str, names: tuple[str, str, str, str], exclusion: str) -> Scenario:
    s = Scenario(sid, tag, purpose, *names)
    documented_lumbar_candidate(s)
    s.condition(C[exclusion], onset=s.ago(months=3))
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.c": NOT_MET})
    return s


@scenario
def dx_exclusion_fracture() -> Scenario:
    return excluded_candidate("dx-exclusion-fracture", "s19",
                              "Active osteoporotic lumbar vertebral fracture (findings attested): I.A.1.c not met",
                              ("Agatha", "Penhallow", "female", "1949-06-17"), "vertebral-fracture")


@scenario
def dx_exclusion_tumour() -> Scenario:
    return excluded_candidate("dx-exclusion-tumour", "s20",
                              "Active malignant neoplasm of the vertebral column (C41.2): I.A.1.c not met",
                              ("Desmond", "Achebe-Farrow", "male", "1957-08-08"), "vertebral-tumour")


@scenario
def dx_exclusion_infection() -> Scenario:
    return excluded_candidate("dx-exclusion-infection", "s21",
                              "Active lumbar vertebral osteomyelitis (M46.26): I.A.1.c not met",
                              ("Henrietta", "Sokolowska", "female", "1966-12-12"), "vertebral-osteomyelitis")


@scenario
def dx_exclusion_radiculopathy() -> Scenario:
    return excluded_candidate("dx-exclusion-radiculopathy", "s22",
                              "Active lumbar radiculopathy (M54.16) and no synovial cyst: I.A.1.c not met",
                              ("Ignatius", "Delacroix-Mwangi", "male", "1971-05-05"), "lumbar-radiculopathy")


@scenario
def dx_exclusion_myelopathy() -> Scenario:
    return excluded_candidate("dx-exclusion-myelopathy", "s23",
                              "Active lumbar spondylosis with myelopathy (M47.16): I.A.1.c not met",
                              ("Philippa", "Grunewald", "female", "1960-10-30"), "lumbar-myelopathy")


@scenario
def dx_synovial_cyst() -> Scenario:
    s = Scenario(
        "dx-synovial-cyst",
        "s24",
        "Facet synovial cyst + radiculopathy + pain 7/10, no PT: PT exception met (I.A.1.b.i Note, I.A.1.b.i); "
        "radiculopathy excused",
        "Raffaele",
        "Odukoya-Brandt",
        "male",
        "1965-03-22",
    )
    lumbar_pain(s)
    s.condition(C["synovial-cyst"], onset=s.ago(months=4), body_site="Right L4-L5 facet joint",
                note="Right L4-L5 facet joint synovial cyst compressing the L5 nerve root (MRI)")
    s.condition(C["lumbar-radiculopathy"], onset=s.ago(months=4))
    s.nsaid_statement("naproxen", s.ago(days=100), s.ago(days=60))
    s.pain_score(7, at(s.ago(days=14), "15:00"))
    s.interference(7, at(s.ago(days=14), "15:05"))
    dx_attestations(s)
    lumbar_injection_order(s, levels=("L4-L5",))
    s.expect(REV_2026, "covered", {
        "I.A.1.b.i Note": MET, "I.A.1.b.i": MET, "I.A.1.b": MET, "I.A.1.c": MET,
    })
    return s


# Levels (I.A.1.d)
@scenario
def dx_four_levels() -> Scenario:
    s = Scenario(
        "dx-four-levels",
        "s25",
        "64493+64494+64495 at four levels (L2-L3..L5-S1): I.A.1.d not met; Propose-Alternate keeps the first 3",
        "Augustin",
        "Velasquez-Thorne",
        "male",
        "1963-02-02",
        demo=True,
    )
    conditions = documented_lumbar_candidate(s)
    lumbar_injection_order(s, levels=("L2-L3", "L3-L4", "L4-L5", "L5-S1"), reasons=conditions)
    s.expect(REV_2026, "not-covered", {"I.A.1.d": NOT_MET})
    return s


@scenario
def dx_64495_without_body_site() -> Scenario:
    s = Scenario("dx-64495-without-body-site", "s26",
                 "64493+64494+64495 with no bodySite: '3 or more' levels cannot be told, I.A.1.d needs documentation",
                 "Cordelia", "Fitzwarren", "female", "1974-09-14")
    documented_lumbar_candidate(s)
    s.draft_order("64493", intent="diagnostic")
    s.draft_order("64494", intent="diagnostic")
    s.draft_order("64495", intent="diagnostic")
    s.expect(REV_2026, "conditional", {"I.A.1.d": DOC})
    return s


# Second and third diagnostic blocks (I.A.1, I.A.1.e, I.A.1 Note)
@scenario
def dx_second_block_13_days() -> Scenario:
    s = Scenario("dx-second-block-13-days", "s27",
                 "Second block 13 days after a first block with 87.5% relief: under two weeks apart, I.A.1.e not met",
                 "Emeric", "Lindqvist-Osei", "male", "1968-11-11")
    documented_lumbar_candidate(s)
    dx_attestations_2019(s)
    s.block("64493", s.ago(days=13), intent="diagnostic", before=8, after=1)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1": MET, "I.A.1.e": NOT_MET, "I.A.1 Note": NA})
    s.expect(REV_2019, "not-covered", {"I.A.1": NOT_MET})
    return s


@scenario
def dx_second_block_14_days() -> Scenario:
    s = Scenario(
        "dx-second-block-14-days",
        "s28",
        "Second block exactly 14 days after a first block with 87.5% relief at the same levels: I.A.1.e met, covered",
        "Sunniva",
        "Abernathy-Kowalczyk",
        "female",
        "1976-04-28",
    )
    documented_lumbar_candidate(s)
    s.block("64493", s.ago(days=14), intent="diagnostic", before=8, after=1)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1": MET, "I.A.1.e": MET, "I.A.1 Note": NA, "I.A.1.a": MET})
    return s


@scenario
def dx_second_block_78_percent() -> Scenario:
    s = Scenario("dx-second-block-78-percent", "s29",
                 "Second block after a first with 78% relief (recorded %): 05/26 (>=80%) not met; 2019 (>=75%) met",
                 "Thaddeus", "Moreau-Achterberg", "male", "1960-07-07")
    documented_lumbar_candidate(s)
    dx_attestations_2019(s)
    first = s.block("64493", s.ago(days=30), intent="diagnostic", before=None, after=None)
    s.percent_relief(78, at(s.ago(days=30), "10:30"), part_of=first)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1 Note": NOT_MET, "I.A.1.e": NOT_MET})
    s.expect(REV_2019, "covered", {"I.A.1": MET, "I.A Note": NA, "I.A.3.a": MET})
    return s


@scenario
def dx_third_block() -> Scenario:
    s = Scenario(
        "dx-third-block",
        "s30",
        "A third diagnostic block, two positive ones already done and no RF since: I.A.1 not met (2019 I.A too)",
        "Octavia",
        "Brennan-Achebe",
        "female",
        "1964-08-16",
    )
    documented_lumbar_candidate(s)
    two_positive_blocks(s, s.ago(days=60), s.ago(days=40))
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1": NOT_MET})
    s.expect(REV_2019, "not-covered", {"I.A": NOT_MET})
    return s


# Radiofrequency neurotomy (I.B)
@scenario
def rf_initial_covered() -> Scenario:
    s = Scenario(
        "rf-initial-covered",
        "s31",
        "Initial lumbar RF (64635+64636) after two blocks with >=80% relief: covered; under 2019 the movement "
        "attestation is missing",
        "Cornelius",
        "Haverford-Nwosu",
        "male",
        "1958-12-24",
        doctor="Adeyemi",
        demo=True,
    )
    conditions = lumbar_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=75), s.ago(days=50))
    s.draft_order("64635", levels=LUMBAR_2, reasons=conditions)
    s.draft_order("64636", quantity_value=1)
    s.expect(REV_2026, "covered", {
        "I": MET, "I.B": MET, "I.B.1.a": MET, "I.B.1.b": MET, "I.B.1.c": MET,
        "I.B.2.a": NA, "I.B.2.b": NA, "I.B.2.c": NA, "I.A": NA, "I.E": NA, "I.F": NA,
    })
    s.expect(REV_2019, "conditional", {"II.A.2": DOC})
    return s


@scenario
def rf_initial_one_block() -> Scenario:
    s = Scenario("rf-initial-one-block", "s32",
                 "Initial lumbar RF after only one diagnostic block (90% relief): I.B.1.b not met",
                 "Beatrix", "Solberg-Umeh", "female", "1966-05-31")
    lumbar_pain(s)
    conservative_care(s)
    s.block("64493", s.ago(days=40), intent="diagnostic", before=10, after=1)
    s.draft_order("64635", levels=LUMBAR_2)
    s.draft_order("64636", quantity_value=1)
    s.expect(REV_2026, "not-covered", {"I.B.1.b": NOT_MET})
    return s


def rf_history(s: Scenario, rf_months_ago: int) -> dict:
    """Two positive blocks, then an RF `rf_months_ago` months before the DOS with a pre-RF pain
    score of 8 and interference 7 (both part of the RF)."""
    lumbar_pain(s, onset_months=rf_months_ago + 12)
    rf_day = s.ago(months=rf_months_ago)
    two_positive_blocks(s, rf_day - timedelta(days=60), rf_day - timedelta(days=35))
    rf = s.rf(rf_day)
    s.pain_score(8, at(rf_day, "08:30"), part_of=rf, marker="pre-procedure")
    s.interference(7, at(rf_day, "08:35"), part_of=rf)
    s.pain_score(2, at(rf_day, "10:30"), part_of=rf, marker="post-procedure")
    return rf


def repeat_rf_order(s: Scenario) -> None:
    s.draft_order("64635", levels=LUMBAR_2)
    s.draft_order("64636", quantity_value=1)


@scenario
def rf_repeat_5_months() -> Scenario:
    s = Scenario("rf-repeat-5-months", "s33",
                 "Repeat lumbar RF only 5 months after the previous one: I.B.2.a not met",
                 "Leopold", "Marchbanks-Eze", "male", "1955-10-19")
    rf = rf_history(s, 5)
    s.follow_up(rf, {1: 2, 3: 3, (4, 15): 3})
    repeat_rf_order(s)
    s.expect(REV_2026, "not-covered", {"I.B.2.a": NOT_MET})
    return s


@scenario
def rf_repeat_7_months_covered() -> Scenario:
    s = Scenario(
        "rf-repeat-7-months-covered",
        "s34",
        "Repeat lumbar RF 7 months after the last; >=50% relief sustained 6 months and interference 7 -> 3: covered",
        "Serafina",
        "Dunmore-Achterberg",
        "female",
        "1957-03-03",
    )
    rf = rf_history(s, 7)
    s.follow_up(rf, {1: 2, 3: 3, (6, 3): 3})
    s.interference(3, at(add_months(date.fromisoformat(rf["performedDateTime"][:10]), 6) + timedelta(days=3), "10:05"),
                   part_of=rf)
    repeat_rf_order(s)
    s.expect(REV_2026, "covered", {
        "I.B.2.a": MET, "I.B.2.b": MET, "I.B.2.c": MET, "I.B.1.a": NA, "I.B.1.b": NA, "I.B.1.c": NA,
    })
    return s


@scenario
def rf_repeat_relief_5_months() -> Scenario:
    s = Scenario(
        "rf-repeat-relief-5-months",
        "s35",
        "Repeat lumbar RF 8 months after the last; relief held 5 months then pain 7/10: 2019 (4 months) met, 05/26 (6 "
        "months) not met",
        "Ambrose",
        "Kettleworth-Oni",
        "male",
        "1954-01-09",
    )
    rf = rf_history(s, 8)
    s.follow_up(rf, {1: 2, 3: 3, 4: 3, 5: 3, (5, 15): 7})
    s.interference(3, at(add_months(date.fromisoformat(rf["performedDateTime"][:10]), 5), "10:05"), part_of=rf)
    repeat_rf_order(s)
    s.expect(REV_2026, "not-covered", {"I.B.2.a": MET, "I.B.2.b": NOT_MET})
    s.expect(REV_2019, "covered", {"II.B.1": MET, "II.B.2": MET, "II.B.3": MET})
    return s


# Therapeutic injections (I.D; 2019 V)
def therapeutic_candidate(s: Scenario, blocks_ago_days: tuple[int, int] = (90, 60)) -> list[dict]:
    conditions = lumbar_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=blocks_ago_days[0]), s.ago(days=blocks_ago_days[1]))
    return conditions


@scenario
def ther_neurostimulator() -> Scenario:
    s = Scenario(
        "ther-neurostimulator",
        "s36",
        "Therapeutic lumbar injection, two positive blocks, implanted neurostimulator (Z96.82): 05/26 covered; 2019 V "
        "not met",
        "Millicent",
        "Achterberg-Yusuf",
        "female",
        "1962-06-06",
        doctor="Okonkwo",
        demo=True,
    )
    conditions = therapeutic_candidate(s)
    stimulator = s.condition(C["neurostimulator"], onset=s.ago(months=26),
                             note="Spinal cord stimulator implanted for failed back surgery syndrome")
    lumbar_injection_order(s, intent="therapeutic", reasons=[*conditions, stimulator])
    s.expect(REV_2026, "covered", {
        "I": MET, "I.D": MET, "I.D.1": MET, "I.D.2": NA, "I.D.3": MET, "I.D.4": MET, "I.A": NA, "I.A.1": NA,
    })
    s.expect(REV_2019, "not-covered", {"V": NOT_MET})
    return s


@scenario
def ther_no_rf_contraindication() -> Scenario:
    s = Scenario(
        "ther-no-rf-contraindication",
        "s37",
        "Therapeutic lumbar injection with no documented reason why RF is not an option: I.D.3 needs documentation",
        "Reginald",
        "Oyelowo-Hastings",
        "male",
        "1961-04-14",
    )
    therapeutic_candidate(s)
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2026, "conditional", {"I.D.1": MET, "I.D.3": DOC})
    return s


@scenario
def ther_repeat_relief_2_months() -> Scenario:
    s = Scenario(
        "ther-repeat-relief-2-months",
        "s38",
        "Repeat therapeutic injection; relief after the last one lasted 2 months (7/10 at 2.5 months): I.D.2 not met",
        "Wilhelmina",
        "Carrow-Adeleke",
        "female",
        "1953-11-27",
    )
    therapeutic_candidate(s, blocks_ago_days=(270, 240))
    s.device("pacemaker-device")
    prior = s.block("64493", s.ago(months=4), intent="therapeutic", before=8, after=2)
    s.follow_up(prior, {1: 3, 2: 3, (2, 15): 7})
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2026, "not-covered", {"I.D.2": NOT_MET, "I.D.3": MET})
    return s


@scenario
def ther_repeat_relief_4_months() -> Scenario:
    s = Scenario(
        "ther-repeat-relief-4-months",
        "s39",
        "Repeat therapeutic injection; >=50% relief held 4 months after the last one; pseudarthrosis (M96.0): covered",
        "Jasper",
        "Underhill-Nakamura",
        "male",
        "1959-02-08",
    )
    therapeutic_candidate(s, blocks_ago_days=(300, 270))
    s.condition(C["pseudarthrosis"], onset=s.ago(months=20))
    prior = s.block("64493", s.ago(months=5), intent="therapeutic", before=8, after=2)
    s.interference(7, at(s.ago(months=5), "08:35"), part_of=prior)
    s.follow_up(prior, {1: 2, 3: 3, 4: 3})
    s.interference(3, at(add_months(s.ago(months=5), 4), "10:05"), part_of=prior)
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2026, "covered", {"I.D.2": MET, "I.D.3": MET})
    return s


# Regions: thoracic, cervical, undetermined
@scenario
def thoracic_injection() -> Scenario:
    s = Scenario(
        "thoracic-injection",
        "s40",
        "64490 at T7-T8 (bodySite SNOMED 122495006): thoracic injection, I.C not met (2019: not a listed region)",
        "Fenella",
        "Ravensworth",
        "female",
        "1970-01-31",
    )
    thoracic_pain(s)
    conservative_care(s)
    dx_attestations(s)
    s.draft_order("64490", levels=("T7-T8",), region=C["thoracic-spine"], intent="diagnostic")
    s.expect(REV_2026, "not-covered", {"I.C": NOT_MET, "I.A.1": NOT_MET})
    s.expect(REV_2019, "not-covered", {"I.A": NOT_MET})
    return s


@scenario
def thoracic_rf() -> Scenario:
    s = Scenario("thoracic-rf", "s41",
                 "64633 at T8-T9 (thoracic bodySite) after two thoracic blocks: I.E not met (2019 III)",
                 "Barnaby", "Quist-Adewale", "male", "1965-09-21")
    thoracic_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=80), s.ago(days=55), code="64490", levels=("T8-T9",),
                        region=C["thoracic-spine"])
    s.draft_order("64633", levels=("T8-T9",), region=C["thoracic-spine"])
    s.expect(REV_2026, "not-covered", {"I.E": NOT_MET, "I.B": NOT_MET})
    s.expect(REV_2019, "not-covered", {"III": NOT_MET})
    return s


@scenario
def cervical_injection() -> Scenario:
    s = Scenario("cervical-injection", "s42",
                 "64490 with bodySite text C5-C6 and neck pain: region cervical, first diagnostic block covered",
                 "Annika", "Moravec-Obi", "female", "1978-10-03")
    conditions = neck_pain(s)
    conservative_care(s)
    dx_attestations(s)
    s.draft_order("64490", levels=("C5-C6",), intent="diagnostic", reasons=conditions)
    s.expect(REV_2026, "covered", {"I.A.1": MET, "I.C": NA, "I.E": NA, "I.A.1.d": MET})
    return s


@scenario
def cervical_code_region_unknown() -> Scenario:
    s = Scenario(
        "cervical-code-region-unknown",
        "s43",
        "64490 without bodySite and only lumbar diagnoses: cervical vs thoracic unknown, I.C and I.A.1 need "
        "documentation",
        "Horatio",
        "Pemberton-Uzor",
        "male",
        "1967-07-17",
    )
    documented_lumbar_candidate(s)
    s.draft_order("64490", intent="diagnostic")
    s.expect(REV_2026, "conditional", {"I.C": DOC, "I.A.1": DOC})
    return s


# Technique, guidance, other procedures
@scenario
def pulsed_rf() -> Scenario:
    s = Scenario("pulsed-rf", "s44",
                 "64999 'Pulsed radiofrequency of lumbar medial branch nerves': I.F not met (2019 IV)",
                 "Gwendolyn", "Ashby-Okafor", "female", "1963-12-05")
    lumbar_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=75), s.ago(days=50))
    s.draft_order("64999", levels=LUMBAR_2, text="Pulsed radiofrequency of lumbar medial branch nerves")
    s.expect(REV_2026, "not-covered", {"I.F": NOT_MET})
    s.expect(REV_2019, "not-covered", {"IV": NOT_MET})
    return s


@scenario
def ultrasound_guided() -> Scenario:
    s = Scenario(
        "ultrasound-guided",
        "s45",
        "0216T ultrasound-guided lumbar block: Table 2 and I.A guidance not met; the fix is 64493 (Propose-Alternate)",
        "Esmeralda",
        "Fairbairn-Okoye",
        "female",
        "1969-02-25",
        demo=True,
    )
    conditions = documented_lumbar_candidate(s)
    s.draft_order("0216T", levels=("L4-L5",), intent="diagnostic", reasons=conditions)
    s.expect(REV_2026, "not-covered", {"Table 2": NOT_MET, "I.A": NOT_MET})
    return s


@scenario
def epidural_same_visit() -> Scenario:
    s = Scenario(
        "epidural-same-visit",
        "s46",
        "Lumbar facet block and an epidural (62323) in the same draftOrders: one procedure per visit, I not met",
        "Montgomery",
        "Iwu-Halvorsen",
        "male",
        "1960-05-12",
    )
    documented_lumbar_candidate(s)
    lumbar_injection_order(s, levels=("L4-L5",))
    s.draft_order("62323", levels=("L4-L5",))
    s.expect(REV_2026, "not-covered", {"I": NOT_MET})
    s.expect(REV_2019, "not-covered", {"I": NOT_MET})
    return s


@scenario
def mri_only() -> Scenario:
    s = Scenario("mri-only", "s47",
                 "Only a lumbar MRI is ordered (no Coverage on file): out of scope, no determination at all",
                 "Tobias", "Wetherell", "male", "1980-08-22", with_coverage=False)
    conditions = lumbar_pain(s)
    s.draft_order("mri-lumbar", reasons=conditions)
    return s  # expected: []


# Revisions chosen by date
def documented_lumbar_candidate_2019(s: Scenario) -> None:
    lumbar_pain(s)
    conservative_care(s)
    dx_attestations_2019(s)


@scenario
def dos_2023_first_block() -> Scenario:
    s = Scenario(
        "dos-2023-first-block",
        "s48",
        "First lumbar diagnostic block dated 2023-03-01: the 2019 revision is chosen by date; fully documented, "
        "covered",
        "Harriet",
        "Okafor-Lindstrom",
        "female",
        "1966-07-25",
        dos=date(2023, 3, 1),
    )
    documented_lumbar_candidate_2019(s)
    lumbar_injection_order(s)
    s.expect(REV_2019, "covered", {"I.A": MET, "I.A.2": MET, "I.A.3.a": MET, "I.A.3.c": MET, "I.A.3bis": MET})
    return s


@scenario
def dos_2023_therapeutic() -> Scenario:
    s = Scenario(
        "dos-2023-therapeutic",
        "s49",
        "Therapeutic lumbar injection dated 2023-06-15: 2019 chosen by date, therapeutic injections are not medically "
        "necessary (V)",
        "Percival",
        "Danforth-Eze",
        "male",
        "1958-03-18",
        dos=date(2023, 6, 15),
    )
    therapeutic_candidate(s)
    s.condition(C["neurostimulator"], onset=s.ago(months=30))
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2019, "not-covered", {"V": NOT_MET})
    return s


@scenario
def dos_2018_before_policy() -> Scenario:
    s = Scenario("dos-2018-before-policy", "s50",
                 "Lumbar block dated 2018-05-01, before the earliest revision (2019-07-01): no decision, card only",
                 "Eudora", "Pickering-Asante", "female", "1955-09-01", dos=date(2018, 5, 1))
    lumbar_pain(s)
    conservative_care(s)
    lumbar_injection_order(s)
    s.expect(None, "none", {})
    return s


# Record handling
@scenario
def no_coverage() -> Scenario:
    s = Scenario(
        "no-coverage",
        "s51",
        "Fully documented first lumbar block but no Coverage anywhere: decision made, cards only (no system action)",
        "Rupert",
        "Aldana-Whitcombe",
        "male",
        "1971-12-19",
        with_coverage=False,
    )
    conditions = documented_lumbar_candidate(s)
    lumbar_injection_order(s, intent=None, reasons=conditions)  # intent inferred: no prior blocks -> diagnostic
    s.expect(REV_2026, "covered", {"I.A.1": MET, "I.A.1.e": NA})
    return s


@scenario
def malformed_observation() -> Scenario:
    s = Scenario(
        "malformed-observation",
        "s52",
        "One Observation has effectiveDateTime 2026-13-45: it is skipped and named; the rest is evaluated, covered",
        "Marguerite",
        "Tennant-Obuya",
        "female",
        "1969-04-04",
    )
    documented_lumbar_candidate(s)
    bad = s.pain_score(9, "2026-13-45")
    s.malformed.append(bad["id"])
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b": MET, "I.A.1.a": MET})
    return s


# --- output and self-check -------------------------------------------------------------------
def build() -> list[dict]:
    docs = [make().document() for make in SCENARIOS]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {f"{d['id']}.json" for d in docs}
    for stale in OUT_DIR.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for doc in docs:
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        (OUT_DIR / f"{doc['id']}.json").write_text(text, encoding="utf-8")
    write_readme_table(docs)
    return docs


def write_readme_table(docs: list[dict]) -> None:
    """Replace the scenario table between the README markers (the rest of the README is prose)."""
    def decisions(doc: dict) -> str:
        return ", ".join(f"{e['revision'] or 'none'}: {e['decision']}" for e in doc["expected"]) or "no determination"

    def patient_name(doc: dict) -> str:
        patient = next(e["resource"] for e in doc["record"]["entry"] if e["resource"]["id"] == doc["patientId"])
        name = patient["name"][0]
        return f"{' '.join(name['given'])} {name['family']}"

    rows = ["| scenario id | patient id (synthetic name) | purpose | expected |", "|---|---|---|---|"]
    for doc in docs:
        star = " ★" if doc.get("demo") else ""
        rows.append(f"| `{doc['id']}`{star} | `{doc['patientId']}` ({patient_name(doc)}) | {doc['purpose']} "
                    f"| {decisions(doc)} |")
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    README.write_text(f"{head}{TABLE_START}\n" + "\n".join(rows) + f"\n{TABLE_END}{tail}", encoding="utf-8")


def load() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(OUT_DIR.glob("*.json"))]


def references(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def codings(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        if "system" in node and "code" in node and "value" not in node:
            yield node
        for value in node.values():
            yield from codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from codings(value)


CHECKED_SYSTEMS = {CPT, ICD10CM, SNOMED, LOINC, RXNORM}
ALLOWED_UNLISTED = {(CPT, "62323")}  # named by the contract (§4 "one procedure per visit")


def check(docs: list[dict]) -> list[str]:
    """Validate with fhir.resources R4B, ids unique, references resolve, codes verified."""
    from fhir.resources.R4B import get_fhir_model_class

    problems: list[str] = []
    verified = {(e["system"], e["code"]) for entries in json.loads(VALUESETS.read_text()).values()
                for e in entries if e.get("verified") in ("yes", "secondary")}
    seen: dict[str, str] = {}
    for doc in docs:
        sid = doc["id"]
        malformed = set(doc.get("malformedResourceIds", []))
        resources = [e["resource"] for b in ("record", "draftOrders") for e in doc[b]["entry"]]
        local = {f"{r['resourceType']}/{r['id']}" for r in resources}
        if doc["patientId"] not in {r["id"] for r in resources if r["resourceType"] == "Patient"}:
            problems.append(f"{sid}: patientId {doc['patientId']} not in record")
        for r in resources:
            key = f"{r['resourceType']}/{r['id']}"
            if key in seen:
                problems.append(f"{sid}: {key} also in {seen[key]}")
            seen[key] = sid
            for target in references(r):
                if target not in local:
                    problems.append(f"{sid}: {key} references missing {target}")
            for coding in codings(r):
                pair = (coding["system"], coding["code"])
                if coding["system"] in CHECKED_SYSTEMS and pair not in verified and pair not in ALLOWED_UNLISTED:
                    problems.append(f"{sid}: {key} uses unverified code {pair}")
            if r["id"] in malformed:
                continue
            try:
                get_fhir_model_class(r["resourceType"]).model_validate(r)
            except Exception as exc:  # noqa: BLE001 - report every validation failure
                problems.append(f"{sid}: {key} invalid: {exc}")
        for b in ("record", "draftOrders"):
            if not malformed:
                try:
                    get_fhir_model_class("Bundle").model_validate(doc[b])
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{sid}: {b} bundle invalid: {exc}")
        for key in malformed:
            if not any(r["id"] == key for r in resources):
                problems.append(f"{sid}: malformed id {key} not present")
        for order in (e["resource"] for e in doc["draftOrders"]["entry"]):
            if order.get("status") != "draft":
                problems.append(f"{sid}: {order['id']} is not a draft")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only self-check the files on disk")
    args = parser.parse_args(argv)
    docs = load() if args.check else build()
    problems = check(docs)
    for problem in problems:
        print(problem, file=sys.stderr)
    resources = sum(len(d["record"]["entry"]) + len(d["draftOrders"]["entry"]) for d in docs)
    print(f"{len(docs)} scenarios, {resources} resources, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
