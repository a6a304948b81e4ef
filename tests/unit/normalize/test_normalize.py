"""normalize: resources as EHRs really send them become plain dicts that validate against R4B."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.fhir_access.model_shapes import JsonKind, element_shapes, resource_model
from cds_service.fhir_access.normalize import (
    CACHE_MAX_ENTRIES,
    LruCache,
    Ok,
    Skipped,
    cache_info,
    clear_cache,
    normalize_bundle_entries,
    normalize_resource,
    normalize_resources,
)

READ_TYPES = [
    "Patient", "Coverage", "Condition", "Procedure", "MedicationStatement", "MedicationRequest",
    "AllergyIntolerance", "Observation", "QuestionnaireResponse", "Device", "ServiceRequest",
]
PATIENT_REF = {"reference": "Patient/pat-1"}
CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"


def coded(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return {"coding": [coding]}


# R4 (4.0.1) resources shaped like the spec's examples: what an R4 EHR sends when it follows the spec.
R4_EXAMPLES = {
    "Patient": {
        "resourceType": "Patient", "id": "pat-1", "meta": {"lastUpdated": "2024-01-15T10:00:00.000+00:00"},
        "identifier": [{"use": "usual", "type": coded("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"),
                        "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
        "gender": "male", "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                      "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "deceasedBoolean": False,
        "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}],
    },
    "Coverage": {
        "resourceType": "Coverage", "id": "cov-1", "status": "active",
        "type": coded("http://terminology.hl7.org/CodeSystem/v3-ActCode", "EHCPOL"),
        "subscriberId": "AB9876", "beneficiary": PATIENT_REF, "relationship": {"coding": [{"code": "self"}]},
        "period": {"start": "2024-01-01"}, "payor": [{"reference": "Organization/payer"}],
        "class": [{"type": coded("http://terminology.hl7.org/CodeSystem/coverage-class", "plan"), "value": "B37FC"}],
        "costToBeneficiary": [{"valueMoney": {"value": 20.00, "currency": "USD"},
                               "exception": [{"type": {"text": "retired"}, "period": {"start": "2018-01-01"}}]}],
    },
    "Condition": {
        "resourceType": "Condition", "id": "cond-1",
        "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "verificationStatus": coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
        "category": [coded("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis")],
        "code": coded(ICD10CM, "M47.816", "Spondylosis w/o myelopathy, lumbar"),
        "bodySite": [coded(SNOMED, "122496007", "Lumbar spine structure")],
        "subject": PATIENT_REF, "onsetDateTime": "2023-10-01", "recordedDate": "2023-10-02T10:30:00-05:00",
        "evidence": [{"code": [{"text": "CT"}], "detail": [{"reference": "DiagnosticReport/ct"}]}],
        "note": [{"authorString": "Dr. Smith", "time": "2023-10-02T10:30:00Z", "text": "Axial low back pain"}],
    },
    "Procedure": {
        "resourceType": "Procedure", "id": "proc-1", "status": "completed",
        "category": coded(SNOMED, "387713003", "Surgical procedure"),
        "code": coded(CPT, "64493", "Inj paravert f jnt l/s 1 lev"), "subject": PATIENT_REF,
        "performedPeriod": {"start": "2024-01-15T09:00:00-05:00", "end": "2024-01-15T09:30:00-05:00"},
        "performer": [{"function": {"text": "Surgeon"}, "actor": {"reference": "Practitioner/p1"}}],
        "reasonReference": [{"reference": "Condition/cond-1"}], "bodySite": [{"text": "L4-L5"}],
        "focalDevice": [{"action": {"text": "implanted"}, "manipulated": {"reference": "Device/dev-1"}}],
        "usedCode": [{"text": "spinal needle"}], "note": [{"text": "Diagnostic medial branch block"}],
    },
    "MedicationStatement": {
        "resourceType": "MedicationStatement", "id": "ms-1", "status": "active",
        "contained": [{"resourceType": "Medication", "id": "med", "code": coded(RXNORM, "5640"),
                       "batch": {"lotNumber": "9494788", "expirationDate": "2017-05-22"}}],
        "category": coded("http://terminology.hl7.org/CodeSystem/medication-statement-category", "community"),
        "medicationReference": {"reference": "#med"}, "subject": PATIENT_REF, "context": {"reference": "Encounter/e1"},
        "effectivePeriod": {"start": "2023-06-01", "end": "2023-09-01"}, "dateAsserted": "2023-09-02",
        "reasonCode": [{"text": "low back pain"}], "statusReason": [{"text": "n/a"}],
        "dosage": [{"sequence": 1, "text": "400 mg three times daily",
                    "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 400, "unit": "mg", "system": UCUM, "code": "mg"}}]}],
    },
    "MedicationRequest": {
        "resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
        "medicationCodeableConcept": coded(RXNORM, "5640", "ibuprofen"),
        "subject": PATIENT_REF, "authoredOn": "2023-06-01", "reasonCode": [{"text": "low back pain"}],
        "dosageInstruction": [{
            "timing": {"repeat": {"boundsPeriod": {"start": "2023-06-01"}, "frequency": 3, "periodUnit": "d"}},
            "doseAndRate": [{"type": {"text": "ordered"}, "doseQuantity": {"value": 400, "unit": "mg"}}],
        }],
        "dispenseRequest": {"validityPeriod": {"start": "2023-06-01"}, "numberOfRepeatsAllowed": 0,
                            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"}},
        "substitution": {"allowedBoolean": True},
    },
    "AllergyIntolerance": {
        "resourceType": "AllergyIntolerance", "id": "al-1",
        "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"),
        "type": "allergy", "category": ["medication"], "criticality": "high",
        "code": coded(RXNORM, "7980", "penicillin G"), "patient": PATIENT_REF,
        "onsetDateTime": "2004", "recordedDate": "2014-10-09T14:58:00+11:00", "lastOccurrence": "2012-06",
        "reaction": [{"manifestation": [coded(SNOMED, "39579001", "Anaphylactic reaction")],
                      "onset": "2012-06-12", "severity": "severe"}],
    },
    "Observation": {
        "resourceType": "Observation", "id": "pain-1", "status": "final",
        "category": [coded("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
        "code": coded("http://loinc.org", "72514-3", "Pain severity 0-10"), "subject": PATIENT_REF,
        "partOf": [{"reference": "Procedure/proc-1"}], "effectiveDateTime": "2024-01-15T08:45:00-05:00",
        "issued": "2024-01-15T08:50:00.000-05:00", "valueQuantity": {"value": 8, "system": UCUM, "code": "{score}"},
        "referenceRange": [{"low": {"value": 0}, "high": {"value": 10}}],
        "component": [{"code": {"text": "after"}, "valueInteger": 2},
                      {"code": {"text": "missing"}, "dataAbsentReason": {"text": "asked"}}],
    },
    "QuestionnaireResponse": {
        "resourceType": "QuestionnaireResponse", "id": "qr-1", "identifier": {"value": "Q1"},
        "questionnaire": "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2026-05", "status": "completed",
        "subject": PATIENT_REF, "authored": "2024-01-10T10:00:00+01:00",
        "item": [{"linkId": "conservative-care", "item": [
            {"linkId": "pt-weeks", "answer": [{"valueInteger": 6}]},
            {"linkId": "imaging", "answer": [
                {"valueBoolean": True, "item": [{"linkId": "when", "answer": [{"valueDate": "2023-12-01"}]}]}]},
            {"linkId": "relief", "answer": [{"valueDecimal": 62.5}, {"valueCoding": {"code": "373066001"}}]},
        ]}],
    },
    "Device": {
        "resourceType": "Device", "id": "dev-1", "status": "active",
        "udiCarrier": [{"deviceIdentifier": "09504000059118", "carrierHRF": "(01)09504000059118(17)141120",
                        "carrierAIDC": "aGVsbG8=", "entryType": "barcode"}],
        "deviceName": [{"name": "FlowMaster RF", "type": "user-friendly-name"}], "manufactureDate": "2015-08-08",
        "type": coded(SNOMED, "706767009", "Radiofrequency ablation system"), "patient": PATIENT_REF,
        "property": [{"type": {"text": "power"}, "valueQuantity": [{"value": 10, "unit": "W"}]}],
        "safety": [{"text": "MR conditional"}],
    },
    "ServiceRequest": {
        "resourceType": "ServiceRequest", "id": "facet-1", "status": "draft", "intent": "order",
        "category": [coded(SNOMED, "387713003")], "priority": "routine",
        "code": coded(CPT, "64493", "Inj paravert f jnt l/s 1 lev") | {"text": "Lumbar facet joint injection"},
        "orderDetail": [coded(SNOMED, "261004008", "Diagnostic intent")], "quantityQuantity": {"value": 1},
        "subject": PATIENT_REF, "occurrenceDateTime": "2024-02-01", "authoredOn": "2024-01-20T09:00:00-05:00",
        "reasonCode": [coded(ICD10CM, "M47.816")], "reasonReference": [{"reference": "Condition/cond-1"}],
        "insurance": [{"reference": "Coverage/cov-1"}], "supportingInfo": [{"reference": "QuestionnaireResponse/qr-1"}],
        "bodySite": [{"coding": [{"system": SNOMED, "code": "122496007"}], "text": "L4-L5"}],
        "note": [{"text": "bilateral"}],
    },
}


def resource(resource_type: str, **elements) -> dict:
    """The minimal valid resource of a type, plus `elements`."""
    required = {
        "Condition": {"subject": PATIENT_REF},
        "Observation": {"status": "final", "code": {"text": "pain"}},
        "Procedure": {"status": "completed", "subject": PATIENT_REF},
        "ServiceRequest": {"status": "draft", "intent": "order", "subject": PATIENT_REF},
        "QuestionnaireResponse": {"status": "completed"},
        "MedicationRequest": {"status": "active", "intent": "order", "subject": PATIENT_REF,
                              "medicationCodeableConcept": {"text": "ibuprofen"}},
        "AllergyIntolerance": {"patient": PATIENT_REF},
        "Patient": {},
    }[resource_type]
    return {"resourceType": resource_type, "id": "x-1", **required, **elements}


def ok(raw) -> Ok:
    result = normalize_resource(raw)
    assert isinstance(result, Ok), result
    return result


def validates_against_r4b(resource_dict: dict) -> bool:
    get_fhir_model_class(resource_dict["resourceType"]).model_validate(resource_dict)
    return True


@pytest.fixture(autouse=True)
def empty_cache():
    clear_cache()
    yield
    clear_cache()


# --- R4 resources ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", READ_TYPES)
def test_r4_spec_shaped_resources_pass_unchanged(resource_type):
    raw = R4_EXAMPLES[resource_type]
    result = ok(copy.deepcopy(raw))
    assert result.resource == raw
    assert result.fixes == ()


def test_r4_extension_value_meta_which_r4b_dropped_is_removed():
    raw = resource("Patient", extension=[{"url": "http://example.org/x", "valueMeta": {"versionId": "1"}},
                                         {"url": "http://example.org/y", "valueString": "kept"}])
    result = ok(raw)
    assert result.resource["extension"] == [
        {"url": "http://example.org/x"},
        {"url": "http://example.org/y", "valueString": "kept"},
    ]
    assert result.fixes == ("extension[0].valueMeta: dropped element unknown to R4B",)


# --- each normalisation ---------------------------------------------------------------------------

NORMALISATIONS = [
    pytest.param(
        resource("ServiceRequest", reasonCode={"text": "facet arthropathy"}),
        {"reasonCode": [{"text": "facet arthropathy"}]},
        "reasonCode: wrapped a single value in a list, R4B takes a list",
        id="reasonCode sent as an object",
    ),
    pytest.param(
        resource("Condition", category={"text": "problem-list-item"}),
        {"category": [{"text": "problem-list-item"}]},
        "category: wrapped a single value in a list, R4B takes a list",
        id="category sent as an object",
    ),
    pytest.param(
        resource("AllergyIntolerance", category="medication"),
        {"category": ["medication"]},
        "category: wrapped a single value in a list, R4B takes a list",
        id="primitive list sent as one value",
    ),
    pytest.param(
        resource("Condition", code=[{"text": "low back pain"}]),
        {"code": {"text": "low back pain"}},
        "code: unwrapped a one-item list, R4B takes a single value",
        id="single element sent as a one-item list",
    ),
    pytest.param(
        resource("ServiceRequest", code={"coding": [{}]}),
        {"code": None},
        "code: dropped empty element",
        id="PAMA empty coding",
    ),
    pytest.param(
        resource("ServiceRequest", code={"coding": [{}], "text": "facet injection"}),
        {"code": {"text": "facet injection"}},
        "code.coding: dropped empty element",
        id="empty coding next to text",
    ),
    pytest.param(
        resource("ServiceRequest", reasonCode=[]),
        {"reasonCode": None},
        "reasonCode: dropped empty element",
        id="empty array",
    ),
    pytest.param(
        resource("ServiceRequest", patientInstruction=""),
        {"patientInstruction": None},
        "patientInstruction: dropped empty element",
        id="empty string",
    ),
    pytest.param(
        resource("Condition", code={"text": "low back pain", "coding": [{"code": "279039007", "display": ""}]}),
        {"code": {"text": "low back pain", "coding": [{"code": "279039007"}]}},
        "code.coding[0].display: dropped empty element",
        id="nested empty string",
    ),
    pytest.param(
        resource("Condition", code={"coding": [None, {"code": "M47.816"}]}),
        {"code": {"coding": [{"code": "M47.816"}]}},
        "code.coding[0]: dropped empty element",
        id="null in a list of objects",
    ),
    pytest.param(
        resource("Condition", onsetDateTime="2024-01-15T10:00:00"),
        {"onsetDateTime": "2024-01-15T10:00:00Z"},
        "onsetDateTime: '2024-01-15T10:00:00' has no timezone, assumed UTC",
        id="dateTime without timezone",
    ),
    pytest.param(
        resource("Observation", issued="2024-01-15T10:00:00.1234567"),
        {"issued": "2024-01-15T10:00:00.1234567Z"},
        "issued: '2024-01-15T10:00:00.1234567' has no timezone, assumed UTC",
        id="instant with fraction without timezone",
    ),
    pytest.param(
        resource("Patient", meta={"lastUpdated": "2024-01-15T10:00:00"}),
        {"meta": {"lastUpdated": "2024-01-15T10:00:00Z"}},
        "meta.lastUpdated: '2024-01-15T10:00:00' has no timezone, assumed UTC",
        id="nested instant without timezone",
    ),
    pytest.param(
        resource("Condition", verificationStatusText="confirmed"),
        {"verificationStatusText": None},
        "verificationStatusText: dropped element unknown to R4B",
        id="unknown element",
    ),
    pytest.param(
        resource("Condition", code={"coding": [{"code": "M47.816", "priority": 1}]}),
        {"code": {"coding": [{"code": "M47.816"}]}},
        "code.coding[0].priority: dropped element unknown to R4B",
        id="nested unknown element",
    ),
]


@pytest.mark.parametrize(("raw", "expected_elements", "expected_fix"), NORMALISATIONS)
def test_normalisation_changes_the_element_and_records_the_fix(raw, expected_elements, expected_fix):
    result = ok(raw)
    for name, expected in expected_elements.items():
        assert result.resource.get(name) == expected
    assert result.fixes == (expected_fix,)
    assert validates_against_r4b(result.resource)


def test_extensions_and_modifier_extensions_are_kept():
    extension = [{"url": "http://example.org/fhir/StructureDefinition/side", "valueCode": "left"}]
    raw = resource("ServiceRequest", extension=extension, modifierExtension=extension,
                   code={"text": "facet", "extension": extension})
    result = ok(raw)
    assert result.resource == raw
    assert result.fixes == ()


def test_primitive_list_keeps_positions_of_its_extension_twin():
    twin_extension = {"extension": [{"url": "http://example.org/x", "valueString": "pronounced Jimmy"}]}
    raw = resource("Patient", name=[{"given": ["Peter", ""], "_given": [None, twin_extension]}])
    result = ok(raw)
    assert result.resource["name"] == [{"given": ["Peter", None], "_given": [None, twin_extension]}]
    assert result.fixes == ("name[0].given[1]: dropped empty element",)


def test_sandbox_pama_draft_order_is_usable():
    draft = {"resourceType": "ServiceRequest", "id": "example-request-id", "status": "draft", "intent": "plan",
             "subject": PATIENT_REF, "code": {"coding": [{}]}, "reasonCode": [], "category": {"text": "imaging"}}
    result = ok(draft)
    assert result.resource == {"resourceType": "ServiceRequest", "id": "example-request-id", "status": "draft",
                               "intent": "plan", "subject": PATIENT_REF, "category": [{"text": "imaging"}]}
    assert len(result.fixes) == 3


# --- list-ness is read from the models, all the way down -----------------------------------------

NESTED_SINGLE_OBJECTS = [
    pytest.param(resource("Condition", code={"coding": {"system": SNOMED, "code": "279039007"}}),
                 lambda r: r["code"]["coding"], "code.coding", id="Condition.code.coding"),
    pytest.param(resource("Procedure", bodySite={"text": "L4-L5"}),
                 lambda r: r["bodySite"], "bodySite", id="Procedure.bodySite"),
    pytest.param(resource("QuestionnaireResponse", item=[{"linkId": "1", "answer": {"valueInteger": 6}}]),
                 lambda r: r["item"][0]["answer"], "item[0].answer", id="QuestionnaireResponse.item.answer"),
    pytest.param(resource("ServiceRequest", orderDetail={"text": "diagnostic"}),
                 lambda r: r["orderDetail"], "orderDetail", id="ServiceRequest.orderDetail"),
    pytest.param(resource("Observation", component=[{"code": {"coding": {"code": "8480-6"}}, "valueInteger": 1}]),
                 lambda r: r["component"][0]["code"]["coding"], "component[0].code.coding",
                 id="Observation.component.code.coding"),
    pytest.param(resource("MedicationRequest", dosageInstruction={"doseAndRate": {"doseQuantity": {"value": 400}}}),
                 lambda r: r["dosageInstruction"][0]["doseAndRate"], "dosageInstruction[0].doseAndRate",
                 id="MedicationRequest.dosageInstruction.doseAndRate"),
]


@pytest.mark.parametrize(("raw", "element", "path"), NESTED_SINGLE_OBJECTS)
def test_nested_single_objects_become_lists(raw, element, path):
    result = ok(raw)
    assert isinstance(element(result.resource), list) and len(element(result.resource)) == 1
    assert f"{path}: wrapped a single value in a list, R4B takes a list" in result.fixes
    assert validates_against_r4b(result.resource)


def test_every_element_reachable_from_the_types_we_read_has_a_shape():
    """Guards against a fhir.resources annotation the introspection does not understand."""
    pending = [resource_model(name) for name in [*READ_TYPES, "Bundle", "Medication"]]
    seen = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        shapes = element_shapes(model)  # raises TypeError on an annotation it cannot read
        assert all(shape.fhir_type and (shape.kind is not JsonKind.OBJECT or shape.model) for shape in shapes.values())
        pending.extend(shape.model for shape in shapes.values() if shape.kind is JsonKind.OBJECT)
    assert len(seen) > 60


# --- what cannot be used is skipped and named -----------------------------------------------------

UNUSABLE = [
    pytest.param(resource("Condition", id="c-7", onsetDateTime="2024-13-45"),
                 "Condition/c-7: onsetDateTime '2024-13-45' is not a valid dateTime", id="invalid date"),
    pytest.param(resource("Condition", id="c-7", onsetDateTime="2023-02-29"),
                 "Condition/c-7: onsetDateTime '2023-02-29' is not a valid dateTime", id="day that does not exist"),
    pytest.param(resource("Condition", id="c-7", onsetDateTime=1705312800),
                 "Condition/c-7: onsetDateTime 1705312800 is not a valid dateTime", id="number for a dateTime"),
    pytest.param(resource("Observation", id="o-1", valueBoolean="true"),
                 "Observation/o-1: valueBoolean 'true' is not a valid boolean", id="string for a boolean"),
    pytest.param(resource("Observation", id="o-1", valueQuantity={"value": "7"}),
                 "Observation/o-1: valueQuantity.value '7' is not a valid decimal", id="string for a decimal"),
    pytest.param(resource("Observation", id="o-1", valueQuantity={"value": float("nan")}),
                 "Observation/o-1: valueQuantity.value nan is not a valid decimal", id="NaN for a decimal"),
    pytest.param(resource("Observation", id="o-1", valueInteger=True),
                 "Observation/o-1: valueInteger True is not a valid integer", id="boolean for an integer"),
    pytest.param(resource("Condition", id="c-7", clinicalStatus="active"),
                 "Condition/c-7: clinicalStatus 'active' is not a CodeableConcept object",
                 id="DSTU2 code for a CodeableConcept"),
    pytest.param(resource("Condition", id="c-7", code=[{"text": "a"}, {"text": "b"}]),
                 "Condition/c-7: code has 2 values, R4B takes one CodeableConcept", id="list for a single element"),
    pytest.param({"resourceType": "Condition", "id": "c-7"},
                 "Condition/c-7: subject is required but missing", id="required element missing"),
    pytest.param({"resourceType": "Condition", "id": "c-7", "subject": {}},
                 "Condition/c-7: subject is required but missing", id="required element empty"),
    pytest.param(resource("Condition", id="c-7", onsetDateTime="2024-01-01", onsetString="January"),
                 "Condition/c-7: onset[x] has more than one value: onsetDateTime, onsetString", id="two choice types"),
    pytest.param(resource("Observation", id="o-1", contained=[{"resourceType": "Patient", "birthDate": "soon"}]),
                 "Observation/o-1: contained[0].birthDate 'soon' is not a valid date", id="bad contained resource"),
    pytest.param(resource("Observation", id="o-1", contained=[{"resourceType": "Foo"}]),
                 "Observation/o-1: contained[0] 'Foo' is not an R4B resource type", id="unknown contained type"),
    pytest.param({"resourceType": "MedicationOrder", "id": "order-123", "patient": PATIENT_REF},
                 "MedicationOrder/order-123: MedicationOrder is a DSTU2 type; "
                 "R4 orders are ServiceRequest/MedicationRequest", id="DSTU2 order"),
    pytest.param({"resourceType": "Foo", "id": "f-1"}, "Foo/f-1: 'Foo' is not an R4B resource type",
                 id="unknown resourceType"),
    pytest.param({"resourceType": "CodeableConcept", "text": "x"},
                 "CodeableConcept/(no id): 'CodeableConcept' is not an R4B resource type",
                 id="datatype as resourceType"),
    pytest.param({"id": "c-7", "subject": PATIENT_REF}, "(no resourceType)/c-7: resourceType is missing",
                 id="missing resourceType"),
    pytest.param(["Condition"], "not a JSON object (got an array)", id="array"),
    pytest.param("Condition/c-7", "not a JSON object (got a string)", id="string"),
    pytest.param(None, "not a JSON object (got null)", id="null"),
]


@pytest.mark.parametrize(("raw", "problem"), UNUSABLE)
def test_unusable_resource_is_skipped_with_a_short_problem(raw, problem):
    result = normalize_resource(raw)
    assert isinstance(result, Skipped)
    assert result.problem == problem


def test_one_bad_resource_among_five_keeps_the_other_four():
    good = [R4_EXAMPLES[name] for name in ("Condition", "Procedure", "Observation", "ServiceRequest")]
    bad = resource("Condition", id="c-7", onsetDateTime="2024-13-45")
    batch = normalize_resources([good[0], good[1], bad, good[2], good[3]])
    assert batch.resources == good
    assert [skipped.ref for skipped in batch.skipped] == ["Condition/c-7"]
    assert batch.fixes == {}


def test_batch_fixes_are_listed_by_reference():
    fixed = resource("ServiceRequest", id="sr-1", reasonCode={"text": "pain"})
    batch = normalize_resources([fixed, R4_EXAMPLES["Condition"]])
    assert batch.fixes == {"ServiceRequest/sr-1": ["reasonCode: wrapped a single value in a list, R4B takes a list"]}


# --- cache ----------------------------------------------------------------------------------------


def test_a_resource_seen_before_is_answered_from_the_cache():
    first = normalize_resource(R4_EXAMPLES["Observation"])
    reordered = dict(reversed(list(R4_EXAMPLES["Observation"].items())))  # same JSON, other key order
    second = normalize_resource(reordered)
    assert second == first
    assert cache_info().hits == 1 and cache_info().misses == 1 and cache_info().size == 1


def test_skipped_results_are_cached_too():
    bad = resource("Condition", onsetDateTime="2024-13-45")
    assert normalize_resource(bad) == normalize_resource(bad)
    assert cache_info().hits == 1


def test_callers_cannot_change_the_cached_result():
    first = ok(R4_EXAMPLES["Condition"])
    first.resource["code"]["coding"].clear()
    assert ok(R4_EXAMPLES["Condition"]).resource == R4_EXAMPLES["Condition"]


def test_cache_is_bounded_and_evicts_the_least_recently_used():
    cache = LruCache(max_size=2)
    first, second, third = Skipped("A", "1", "a"), Skipped("B", "2", "b"), Skipped("C", "3", "c")
    cache.put(b"1", first)
    cache.put(b"2", second)
    assert cache.get(b"1") is first  # now "2" is the least recently used
    cache.put(b"3", third)
    assert cache.get(b"2") is None
    assert cache.get(b"1") is first and cache.get(b"3") is third
    assert cache.info().size == 2


def test_process_wide_cache_has_the_documented_bound():
    assert cache_info().max_size == CACHE_MAX_ENTRIES == 20_000


def test_concurrent_callers_get_the_same_answers():
    raws = [resource("Condition", id=f"c-{n % 10}", onsetDateTime="2024-01-15T10:00:00") for n in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(normalize_resource, raws))
    assert all(result == results[n % 10] for n, result in enumerate(results))
    assert cache_info().size == 10


# --- bundles --------------------------------------------------------------------------------------

CONDITION, PROCEDURE = R4_EXAMPLES["Condition"], R4_EXAMPLES["Procedure"]

BUNDLES = [
    pytest.param({"resourceType": "Bundle", "type": "searchset", "total": 2,
                  "entry": [{"fullUrl": "http://x/Condition/cond-1", "resource": CONDITION,
                             "search": {"mode": "match"}},
                            {"resource": PROCEDURE}]}, [CONDITION, PROCEDURE], id="searchset"),
    pytest.param({"resourceType": "Bundle", "entry": [{"resource": CONDITION}]}, [CONDITION], id="no type"),
    pytest.param({"resourceType": "Bundle", "type": "collection", "entry": {"resource": CONDITION}}, [CONDITION],
                 id="entry as object"),
    pytest.param({"resourceType": "Bundle",
                  "entry": [{"fullUrl": "urn:uuid:1"}, {"resource": None}, "junk", {"resource": PROCEDURE}]},
                 [PROCEDURE], id="entries without resource"),
    pytest.param({"resourceType": "Bundle", "type": "searchset", "total": 0}, [], id="no entries"),
    pytest.param({"resourceType": "Bundle",
                  "entry": [{"resource": {"resourceType": "Bundle", "entry": [{"resource": CONDITION}]}}]},
                 [CONDITION], id="nested Bundle"),
    pytest.param(CONDITION, [CONDITION], id="single resource"),
    pytest.param([CONDITION, {"resourceType": "Bundle", "entry": [{"resource": PROCEDURE}]}], [CONDITION, PROCEDURE],
                 id="list"),
    pytest.param(None, [], id="None"),
    pytest.param("Condition/cond-1", [], id="not JSON object"),
]


@pytest.mark.parametrize(("bundle", "expected"), BUNDLES)
def test_bundle_entries_are_flattened_to_raw_resources(bundle, expected):
    assert normalize_bundle_entries(bundle) == expected


# --- property: never raises -----------------------------------------------------------------------

# Real element names make the generator reach nested, typed elements instead of only unknown ones.
ELEMENT_NAMES = st.sampled_from([
    "id", "code", "coding", "system", "display", "text", "subject", "reference", "category", "reasonCode",
    "bodySite", "status", "intent", "onsetDateTime", "performedDateTime", "effectiveDateTime", "issued",
    "valueQuantity", "value", "valueBoolean", "valueInteger", "item", "linkId", "answer", "orderDetail",
    "extension", "url", "valueString", "contained", "resourceType", "meta", "lastUpdated", "_birthDate",
    "birthDate", "name", "given", "_given", "component", "dosage", "doseAndRate", "period", "start",
])
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
                | st.sampled_from(["2024-01-15T10:00:00", "2024-13-45", "final", "Patient/pat-1", ""]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (st.lists(children, max_size=3)
                      | st.dictionaries(ELEMENT_NAMES | st.text(max_size=5), children, max_size=4)),
    max_leaves=25,
)
RESOURCES = st.builds(
    lambda resource_type, elements: {**elements, "resourceType": resource_type},
    st.sampled_from(READ_TYPES),
    st.dictionaries(ELEMENT_NAMES, JSON_VALUES, max_size=6),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCES)
def test_any_json_resource_of_a_read_type_is_ok_or_skipped_never_an_exception(raw):
    result = normalize_resource(raw)
    assert isinstance(result, (Ok, Skipped))
    if isinstance(result, Ok):
        assert validates_against_r4b(result.resource)
        again = normalize_resource(result.resource)
        assert again == Ok(result.resource, ())  # normalising is idempotent
    else:
        assert "\n" not in result.problem and len(result.problem) < 300


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(READ_TYPES), ELEMENT_NAMES, JSON_VALUES)
def test_spec_shaped_resource_with_one_element_replaced_never_raises(resource_type, name, value):
    raw = {**R4_EXAMPLES[resource_type], name: value}
    result = normalize_resource(raw)
    assert isinstance(result, (Ok, Skipped))
    json.dumps(result.resource if isinstance(result, Ok) else result.problem)
