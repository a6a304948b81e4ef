"""Code systems, codes and canonical URLs that EHR integrators must use (documented in README.md).

Kept in one place so that the engine, the Questionnaire, the cards and the fixtures agree.
"""

CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"

# Our own code system for what no standard code covers (percent relief, pre/post markers).
FACET_CDS_CODES = "https://facet-cds.example.org/fhir/CodeSystem/facet-cds"
PERCENT_RELIEF_CODE = "post-block-pain-relief-percent"
PRE_PROCEDURE_MARKER = "pre-procedure"
POST_PROCEDURE_MARKER = "post-procedure"

# Attestation Questionnaire canonical; the version is the policy revision id (e.g. "2026-05").
QUESTIONNAIRE_BASE = "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171"

PAIN_SCORE_LOINC = "72514-3"  # Pain severity 0-10 verbal numeric rating
# Pain interference with activities of daily living (the ADL part of pain_duration, CRITERIA.md).
ADL_INTERFERENCE_LOINC = frozenset({"77565-0", "91146-1", "91147-9"})
DIAGNOSTIC_INTENT = "261004008"
THERAPEUTIC_INTENT = "262202000"
THORACIC_SPINE_STRUCTURE = "122495006"
CERVICAL_SPINE_STRUCTURE = "122494005"
LUMBAR_SPINE_STRUCTURE = "122496007"

COVERAGE_INFORMATION_URL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
CARD_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
CRD_TEMP_CODES = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
CRD_COVERAGE_DETAIL = "http://terminology.hl7.org/CodeSystem/crd-coverage-detail"

# Code systems as EHRs also send them: by HL7 OID (contract §4 "Codes"). Read as the URL everywhere.
CODE_SYSTEM_OIDS = {
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
}


def canonical_system(system: str | None) -> str | None:
    """The code system URL for `system`, whether it came as the URL or as its OID."""
    if system is None:
        return None
    return CODE_SYSTEM_OIDS.get(system.strip(), system.strip())
