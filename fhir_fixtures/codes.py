"""Code systems and the clinical codes the stories use (the same values as cds_service/policy/conventions.py,
restated so the fixtures stay an independent reading of the policy)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
# The reconstructed revisions (cds_service/policy/data/cp-mp-171/2024-06-01.toml, 2025-05-01.toml), chosen by date.
REV_2024 = "2024-06"
REV_2025 = "2025-05"

MET, NOT_MET, DOC, NA = "met", "not-met", "needs-documentation", "not-applicable"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict:
        return coding(self.system, self.code, self.display)

    def concept(self, text: str | None = None) -> dict:
        return concept(self.coding(), text=text or self.display)


# The two primitives every builder uses (this package's Scenario and tests/support/fhir_builders.py alike).
def coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def concept(*codings: dict, text: str | None = None) -> dict:
    return {"coding": list(codings), **({"text": text} if text else {})}


# Clinical codes: only codes listed in verified_codes.json (verified yes/secondary in the clinical mapping)
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

