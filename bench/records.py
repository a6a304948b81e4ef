"""Patient records for the benchmarks: a demo scenario, and a synthetic 200-resource record.

The synthetic patient is a realistic heavy user: years of problems, weekly PT, repeated NSAID courses,
monthly pain scores, and the two diagnostic blocks (with pre/post pain scores) that make an initial lumbar
RF neurotomy (64635 + 64636, L4-L5 and L5-S1) covered. Only the count is tuned, not the clinical story.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cds_service.dev.demo import Scenario, fixtures_directory
from cds_service.fhir_access.queries import EVIDENCE_QUERIES

DATE_OF_SERVICE = date(2026, 11, 20)
EHR_FHIR_BASE = "https://ehr.example.org/fhir"  # the fullUrl base of prefetched entries
DEMO_SCENARIO_IDS = ("rf-initial-covered", "dx-first-lumbar-covered")  # first one found is used
SYNTHETIC_SIZE = 200

CPT = "http://www.ama-assn.org/go/cpt"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
FACET_CDS_CODES = "https://facet-cds.example.org/fhir/CodeSystem/facet-cds"

SPINAL_CONDITIONS = (("M47.816", "Spondylosis without myelopathy or radiculopathy, lumbar region"),
                     ("M54.50", "Low back pain, unspecified"))
OTHER_CONDITIONS = (
    ("I10", "Essential (primary) hypertension"),
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("J30.9", "Allergic rhinitis, unspecified"),
    ("F41.1", "Generalized anxiety disorder"),
    ("M17.11", "Unilateral primary osteoarthritis, right knee"),
    ("H52.4", "Presbyopia"),
    ("G47.33", "Obstructive sleep apnea"),
)
PT_CODES = (("97110", "Therapeutic exercises"), ("97140", "Manual therapy techniques"),
            ("97530", "Therapeutic activities"))
NSAIDS = (("5640", "ibuprofen"), ("7258", "naproxen"), ("41493", "meloxicam"))
OTHER_PROCEDURES = (("45378", "Colonoscopy, diagnostic"), ("99213", "Office visit, established patient"),
                    ("20610", "Arthrocentesis, major joint"))
PAIN_SCORE = (LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")


@dataclass(frozen=True)
class BenchRecord:
    """A patient's resources and the draft orders of one order-sign session."""

    label: str
    patient_id: str
    resources: list[dict[str, Any]]
    draft_orders: dict[str, Any]  # Bundle

    @property
    def orders(self) -> list[dict[str, Any]]:
        return [entry["resource"] for entry in self.draft_orders["entry"]]

    def as_bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in self.resources]}

    def prefetch(self) -> dict[str, Any]:
        """Every prefetch key of discovery, filled the way an EHR would: searchsets whose entries carry their
        absolute fullUrl (FHIR requires it of a search result), and the Patient read."""
        filled: dict[str, Any] = {}
        for query in EVIDENCE_QUERIES:
            matches = [r for r in self.resources if r["resourceType"] == query.resource_type]
            if query.is_read:
                filled[query.key] = matches[0]
            else:
                filled[query.key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                                     "entry": [{"fullUrl": f"{EHR_FHIR_BASE}/{r['resourceType']}/{r['id']}",
                                                "resource": r, "search": {"mode": "match"}} for r in matches]}
        return filled


def demo_record() -> BenchRecord:
    by_id = {path.stem: path for path in fixtures_directory().glob("*.json")}
    name = next((n for n in DEMO_SCENARIO_IDS if n in by_id), None)
    if name is None:
        raise FileNotFoundError(f"none of the demo scenarios {DEMO_SCENARIO_IDS} is in fhir_fixtures/scenarios")
    scenario = Scenario.from_json(json.loads(Path(by_id[name]).read_text(encoding="utf-8")))
    resources, _ = scenario.loadable()
    record = [r for r in resources if r["resourceType"] != "ServiceRequest"]
    return BenchRecord(f"demo {name}", scenario.patient_id, record, scenario.draft_orders)


def synthetic_record(size: int = SYNTHETIC_SIZE) -> BenchRecord:
    return _SyntheticPatient("bench-200").build(size)


class _SyntheticPatient:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.patient_id = f"{prefix}-patient"
        self.practitioner_id = f"{prefix}-dr"
        self.resources: list[dict[str, Any]] = []

    def build(self, size: int) -> BenchRecord:
        self._administrative()
        self._conditions()
        self._physical_therapy(sessions=40)
        self._nsaid_courses(statements=24, prescriptions=8)
        self._other_procedures(count=9)
        self._allergy()
        self._diagnostic_block(1, DATE_OF_SERVICE - timedelta(days=75), before=8, after=1)
        self._diagnostic_block(2, DATE_OF_SERVICE - timedelta(days=50), before=7, after=1)
        self._pain_scores(count=size - len(self.resources))
        orders = [self._order(1, "64635", "single joint"), self._order(2, "64636", "each additional joint")]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}
        return BenchRecord(f"synthetic {size}", self.patient_id, self.resources, bundle)

    # -- building blocks ---------------------------------------------------------------------------
    def _add(self, resource_type: str, suffix: str, **content: Any) -> dict[str, Any]:
        resource = {"resourceType": resource_type, "id": f"{self.prefix}-{suffix}", **content}
        self.resources.append(resource)
        return resource

    def _subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def _administrative(self) -> None:
        self._add("Patient", "patient", gender="female", birthDate="1961-03-14",
                  name=[{"family": "Benchmark", "given": ["Synthia"]}])
        self._add("Practitioner", "dr", name=[{"family": "Okafor", "prefix": ["Dr."]}])
        self._add("Coverage", "coverage", status="active", beneficiary=self._subject(),
                  payor=[{"display": "Synthetic Benchmark Plan"}], period={"start": "2024-01-01"})

    def _conditions(self) -> None:
        onset = date(2019, 2, 1)
        problems = [*SPINAL_CONDITIONS, *OTHER_CONDITIONS]
        for n in range(20):  # the same problems re-recorded over the years, as problem lists do
            code, display = problems[n % len(problems)]
            self._add("Condition", f"cond-{n}", subject=self._subject(),
                      clinicalStatus=_concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
                      code=_concept(ICD10, code, display), onsetDateTime=(onset + timedelta(days=90 * n)).isoformat())

    def _physical_therapy(self, sessions: int) -> None:
        start = DATE_OF_SERVICE - timedelta(days=7 * sessions + 120)
        for n in range(sessions):
            code, display = PT_CODES[n % len(PT_CODES)]
            self._add("Procedure", f"pt-{n}", status="completed", subject=self._subject(),
                      code=_concept(CPT, code, display),
                      performedDateTime=(start + timedelta(days=7 * n)).isoformat(),
                      performer=[{"actor": {"reference": f"Practitioner/{self.practitioner_id}"}}])

    def _nsaid_courses(self, statements: int, prescriptions: int) -> None:
        for n in range(statements):
            code, display = NSAIDS[n % len(NSAIDS)]
            start = DATE_OF_SERVICE - timedelta(days=60 + 45 * n)
            self._add("MedicationStatement", f"nsaid-{n}", status="completed", subject=self._subject(),
                      medicationCodeableConcept=_concept(RXNORM, code, display),
                      effectivePeriod={"start": start.isoformat(), "end": (start + timedelta(days=28)).isoformat()})
        for n in range(prescriptions):
            code, display = NSAIDS[n % len(NSAIDS)]
            start = DATE_OF_SERVICE - timedelta(days=90 + 120 * n)
            self._add("MedicationRequest", f"rx-{n}", status="completed", intent="order", subject=self._subject(),
                      medicationCodeableConcept=_concept(RXNORM, code, display), authoredOn=start.isoformat(),
                      dispenseRequest={"validityPeriod": {"start": start.isoformat(),
                                                          "end": (start + timedelta(days=30)).isoformat()}})

    def _other_procedures(self, count: int) -> None:
        for n in range(count):
            code, display = OTHER_PROCEDURES[n % len(OTHER_PROCEDURES)]
            self._add("Procedure", f"other-{n}", status="completed", subject=self._subject(),
                      code=_concept(CPT, code, display),
                      performedDateTime=(date(2021, 5, 3) + timedelta(days=130 * n)).isoformat())

    def _allergy(self) -> None:
        self._add("AllergyIntolerance", "allergy-penicillin", patient=self._subject(),
                  code=_concept(RXNORM, "7980", "penicillin G"))

    def _diagnostic_block(self, n: int, day: date, before: int, after: int) -> None:
        block = self._add(
            "Procedure",
            f"block-{n}",
            status="completed",
            subject=self._subject(),
            category=_concept(SNOMED, "261004008", "Diagnostic intent"),
            code=_concept(CPT, "64493", "Facet joint injection, fluoroscopy/CT, lumbar or sacral; single level"),
            performedDateTime=f"{day.isoformat()}T09:00:00Z",
            performer=[{"actor": {"reference": f"Practitioner/{self.practitioner_id}"}}],
            bodySite=[{"text": "L4-L5"}, {"text": "L5-S1"}],
        )
        for moment, time, score in (("pre-procedure", "08:30", before), ("post-procedure", "10:30", after)):
            self._pain_score(f"block-{n}-{moment}", f"{day.isoformat()}T{time}:00Z", score,
                             part_of=f"Procedure/{block['id']}", moment=moment)

    def _pain_scores(self, count: int) -> None:
        first = DATE_OF_SERVICE - timedelta(days=14 * count + 30)
        for n in range(count):  # fortnightly clinic scores, not tied to any procedure
            self._pain_score(f"pain-{n}", f"{(first + timedelta(days=14 * n)).isoformat()}T15:00:00Z", 5 + n % 3)

    def _pain_score(self, suffix: str, when: str, score: int, part_of: str | None = None,
                    moment: str | None = None) -> None:
        category = [_concept("http://terminology.hl7.org/CodeSystem/observation-category", "survey")]
        if moment:
            category.append(_concept(FACET_CDS_CODES, moment))
        observation = self._add("Observation", suffix, status="final", category=category,
                                code=_concept(*PAIN_SCORE), subject=self._subject(), effectiveDateTime=when,
                                valueQuantity={"value": score, "unit": "{score}", "system": UCUM, "code": "{score}"})
        if part_of:
            observation["partOf"] = [{"reference": part_of}]

    def _order(self, n: int, code: str, what: str) -> dict[str, Any]:
        return {
            "resourceType": "ServiceRequest",
            "id": f"{self.prefix}-order-{n}",
            "status": "draft",
            "intent": "order",
            "code": _concept(CPT, code, f"Facet joint nerve destruction (RF), lumbar or sacral; {what}"),
            "subject": self._subject(),
            "occurrenceDateTime": DATE_OF_SERVICE.isoformat(),
            "authoredOn": DATE_OF_SERVICE.isoformat(),
            "requester": {"reference": f"Practitioner/{self.practitioner_id}"},
            "bodySite": [{"text": "L4-L5"}, {"text": "L5-S1"}],
            "insurance": [{"reference": f"Coverage/{self.prefix}-coverage"}],
        }


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding], **({"text": display} if display else {})}
