"""gather_record against the real SEKMET FHIR server: two patients, no prefetch, bearer auth."""
from __future__ import annotations

import time

import pytest
import requests

from cds_service.fhir_access import FhirClient, gather_record, new_session
from tests.support.hook_requests import as_request
from tests.support.sekmet import load_bundle, start_sekmet

pytestmark = pytest.mark.fhir_server

TOKEN = "test-token"
OUR_QUESTIONNAIRE = "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2026-05"
LOINC = "http://loinc.org"


def patient_record(pid: str) -> list[dict]:
    """One resource per evidence key (three Conditions, for paging) for patient `pid`."""
    me = {"reference": f"Patient/{pid}"}
    return [
        {"resourceType": "Patient", "id": pid, "birthDate": "1960-02-01"},
        {"resourceType": "Coverage", "id": f"{pid}-cov", "status": "active", "beneficiary": me,
         "payor": [{"display": "Centene"}]},
        *(
            {"resourceType": "Condition", "id": f"{pid}-cond-{n}", "subject": me,
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}}
            for n, code in enumerate(["M47.816", "M54.50", "M51.36"])
        ),
        {"resourceType": "Procedure", "id": f"{pid}-proc", "status": "completed", "subject": me,
         "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]}},
        {"resourceType": "MedicationStatement", "id": f"{pid}-ms", "status": "active", "subject": me,
         "medicationCodeableConcept": {"text": "ibuprofen 400 mg"}},
        {"resourceType": "MedicationRequest", "id": f"{pid}-mr", "status": "active", "intent": "order",
         "subject": me, "medicationCodeableConcept": {"text": "naproxen 500 mg"}},
        {"resourceType": "AllergyIntolerance", "id": f"{pid}-allergy", "patient": me, "code": {"text": "aspirin"}},
        {"resourceType": "Observation", "id": f"{pid}-pain", "status": "final", "subject": me,
         "code": {"coding": [{"system": LOINC, "code": "72514-3"}]}, "valueInteger": 7},
        # not a pain score: the code= OR list must leave it out
        {"resourceType": "Observation", "id": f"{pid}-pulse", "status": "final", "subject": me,
         "code": {"coding": [{"system": LOINC, "code": "8867-4"}]}, "valueInteger": 70},
        {"resourceType": "QuestionnaireResponse", "id": f"{pid}-qr", "status": "completed", "subject": me,
         "questionnaire": OUR_QUESTIONNAIRE},
        {"resourceType": "QuestionnaireResponse", "id": f"{pid}-phq", "status": "completed", "subject": me,
         "questionnaire": "http://example.org/Questionnaire/phq-9"},
        {"resourceType": "Device", "id": f"{pid}-device", "patient": me,
         "deviceName": [{"name": "TENS unit", "type": "user-friendly-name"}]},
    ]


def transaction(resources: list[dict]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory):
    base_url, stop = start_sekmet(tmp_path_factory.mktemp("sekmet"), token=TOKEN)
    try:
        load_bundle(base_url, TOKEN, transaction(patient_record("pat-a") + patient_record("pat-b")))
        yield base_url
    finally:
        stop()


@pytest.fixture(scope="module")
def session():
    with new_session() as shared:
        yield shared


def hook_request(base_url: str, token: str = TOKEN) -> dict:
    return {
        "hook": "order-sign",
        "hookInstance": "6f1b1d0e-30a5-4c6b-9a52-2f1c7a3b2d10",
        "fhirServer": base_url,
        "fhirAuthorization": {"access_token": token, "token_type": "Bearer"},
        "context": {"patientId": "pat-a", "userId": "Practitioner/1"},
    }


def test_without_prefetch_every_key_returns_exactly_the_patients_resources(sekmet, session):
    record = gather_record(
        as_request(hook_request(sekmet)), client_factory=lambda url, token: FhirClient(url, token, session), deadline_s=5
    )

    expected = {
        (r["resourceType"], r["id"]) for r in patient_record("pat-a") if r["id"] not in ("pat-a-pulse", "pat-a-phq")
    }
    assert record.technical_problem is None
    assert {(r["resourceType"], r["id"]) for r in record.resources} == expected
    assert len(record.resources) == len(expected)
    assert sorted(record.fetched_keys) == sorted(
        ["patient", "coverage", "conditions", "procedures", "medicationStatements", "medicationRequests",
         "allergies", "observations", "questionnaireResponses", "devices"]
    )
    assert (record.coverage or {}).get("id") == "pat-a-cov"


def test_questionnaire_responses_are_filtered_although_sekmet_ignores_the_parameter(sekmet, session):
    record = gather_record(
        as_request(hook_request(sekmet)), client_factory=lambda url, token: FhirClient(url, token, session), deadline_s=5
    )

    assert [r["id"] for r in record.of_type("QuestionnaireResponse")] == ["pat-a-qr"]
    dropped = {d.resource_id: d.reason for d in record.dropped}
    assert dropped["pat-b-qr"] == "subject is another patient"
    assert dropped["pat-b-phq"] == "subject is another patient"
    assert dropped["pat-a-phq"] == "not the policy's Questionnaire"
    assert any(w.startswith("QuestionnaireResponse search: server note") for w in record.warnings)


def test_search_follows_sekmet_paging(sekmet, session):
    seen_urls: list[str] = []
    session.hooks["response"].append(lambda response, *args, **kwargs: seen_urls.append(response.url))
    try:
        conditions = FhirClient(sekmet, TOKEN, session).search("Condition?patient=pat-a&_count=2", _soon())
    finally:
        session.hooks["response"].clear()

    assert sorted(r["id"] for r in conditions) == ["pat-a-cond-0", "pat-a-cond-1", "pat-a-cond-2"]
    assert len(seen_urls) == 2
    assert "_offset=2" in seen_urls[1]


def test_a_wrong_token_is_a_technical_problem(sekmet, session):
    record = gather_record(
        as_request(hook_request(sekmet, token="wrong-token")),
        client_factory=lambda url, token: FhirClient(url, token, session),
        deadline_s=5,
    )

    assert record.technical_problem is not None
    assert "HTTP 401" in record.technical_problem
    assert record.resources == []


def test_sekmet_really_requires_the_token(sekmet):
    assert requests.get(f"{sekmet}/Patient/pat-a", timeout=5).status_code == 401


def _soon() -> float:
    return time.monotonic() + 5
