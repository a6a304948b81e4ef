"""Large, unique patient records for the cold-record benchmark (issue 12).

Each patient is the synthetic back-pain record (bench/records.py: the two diagnostic blocks, PT, NSAIDs that
make an initial lumbar RF covered) padded with everyday chart content no criterion reads: vital signs, labs,
other problems and other medications. Every resource is unique (its own id, date and value), so no
content-hash cache can recognise it: each patient is what production sees, a chart read for the first time.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from .records import DATE_OF_SERVICE, ICD10, LOINC, RXNORM, UCUM, BenchRecord, _concept, _SyntheticPatient

BASE_SIZE = 200
VITALS = (("8867-4", "Heart rate", "/min", 60, 40), ("8480-6", "Systolic blood pressure", "mm[Hg]", 110, 40),
          ("8462-4", "Diastolic blood pressure", "mm[Hg]", 65, 25), ("29463-7", "Body weight", "kg", 60, 30),
          ("8310-5", "Body temperature", "Cel", 36, 2), ("9279-1", "Respiratory rate", "/min", 12, 8))
LABS = (("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 60),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11, 5),
        ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 150, 100),
        ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5, 3))
OTHER_PROBLEMS = (("J06.9", "Acute upper respiratory infection, unspecified"), ("R51.9", "Headache, unspecified"),
                  ("L30.9", "Dermatitis, unspecified"), ("N39.0", "Urinary tract infection, site not specified"))
OTHER_MEDICATIONS = (("29046", "lisinopril"), ("83367", "atorvastatin"), ("6809", "metformin"),
                     ("17767", "amlodipine"), ("36567", "simvastatin"))


def padded_record(prefix: str, size: int) -> BenchRecord:
    """The back-pain record of patient `prefix`, padded with unique everyday content to `size` resources."""
    patient = _SyntheticPatient(prefix)
    base = patient.build(BASE_SIZE)
    resources = list(base.resources)
    subject = {"reference": f"Patient/{patient.patient_id}"}
    n = 0
    while len(resources) < size:
        resources.append(_everyday(prefix, n, subject))
        n += 1
    return BenchRecord(f"padded {size}", patient.patient_id, resources, base.draft_orders)


def _everyday(prefix: str, n: int, subject: dict[str, str]) -> dict[str, Any]:
    """The n-th padding resource: mostly vitals and labs, as real charts are, and some problems and drugs."""
    day = DATE_OF_SERVICE - timedelta(days=1 + n % 2000, minutes=n)
    when = f"{day.isoformat()}T{8 + n % 10:02d}:{n % 60:02d}:00Z"
    kind = n % 10
    if kind < 6:  # vital signs
        code, display, unit, low, spread = VITALS[n % len(VITALS)]
        return _observation(prefix, n, subject, when, "vital-signs", code, display, unit, low + (n * 7) % spread)
    if kind < 8:  # laboratory
        code, display, unit, low, spread = LABS[n % len(LABS)]
        return _observation(prefix, n, subject, when, "laboratory", code, display, unit, low + (n * 3) % spread)
    if kind == 8:
        code, display = OTHER_PROBLEMS[n % len(OTHER_PROBLEMS)]
        return {"resourceType": "Condition", "id": f"{prefix}-pad-{n}", "subject": subject,
                "clinicalStatus": _concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"),
                "code": _concept(ICD10, code, display), "onsetDateTime": day.isoformat(),
                "abatementDateTime": (day + timedelta(days=10)).isoformat()}
    code, display = OTHER_MEDICATIONS[n % len(OTHER_MEDICATIONS)]
    return {"resourceType": "MedicationStatement", "id": f"{prefix}-pad-{n}", "status": "completed",
            "subject": subject, "medicationCodeableConcept": _concept(RXNORM, code, display),
            "effectivePeriod": {"start": day.isoformat(), "end": (day + timedelta(days=30)).isoformat()}}


def _observation(prefix: str, n: int, subject: dict[str, str], when: str, category: str, code: str, display: str,
                 unit: str, value: float) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"{prefix}-pad-{n}", "status": "final", "subject": subject,
            "category": [_concept("http://terminology.hl7.org/CodeSystem/observation-category", category)],
            "code": _concept(LOINC, code, display), "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}
