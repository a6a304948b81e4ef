"""The Observation search's `code=` filter (derived from the value sets, issue 12) against the real SEKMET
server: it returns every Observation the local relevance filter keeps from the unfiltered search, in every
spelling the server can match (LOINC URL, LOINC OID, our own code system), and leaves the everyday rest."""
from __future__ import annotations

import time

import pytest

from bench.padding import padded_record
from cds_service.fhir_access import FhirClient, new_session, render_template
from cds_service.fhir_access.queries import QUERIES_BY_KEY
from cds_service.fhir_access.relevance import relevant_only
from cds_service.policy.conventions import FACET_CDS_CODES, LOINC
from cds_service.usecases.engine import default_library
from tests.support.sekmet import load_bundle, start_sekmet

pytestmark = pytest.mark.fhir_server

TOKEN = "test-token"
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"


def _observation(oid: str, patient_id: str, system: str, code: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "subject": {"reference": f"Patient/{patient_id}"}, "code": {"coding": [{"system": system, "code": code}]},
            "effectiveDateTime": "2026-10-01T08:00:00Z", "valueQuantity": {"value": 5}}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A padded 400-resource chart plus an OID-coded eGFR, an ADL score and a percent relief."""
    record = padded_record("codes", 400)
    patient_id = record.patient_id
    extra = [_observation("egfr-oid", patient_id, LOINC_OID, "62238-1"),
             _observation("adl", patient_id, LOINC, "91146-1"),
             _observation("relief", patient_id, FACET_CDS_CODES, "post-block-pain-relief-percent")]
    resources = [*record.resources, *extra]
    base_url, stop = start_sekmet(tmp_path_factory.mktemp("sekmet-code-filters"), token=TOKEN)
    try:
        load_bundle(base_url, TOKEN, {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources]})
        yield base_url, patient_id, resources
    finally:
        stop()


def test_the_code_filtered_observation_search_returns_every_relevant_observation_and_no_vital_sign(loaded):
    base_url, patient_id, resources = loaded
    context = {"patientId": patient_id}
    filtered_query = render_template(QUERIES_BY_KEY["observations"].template, context)
    assert filtered_query is not None and "&code=" in filtered_query
    with new_session() as session:
        client = FhirClient(base_url, TOKEN, session)
        deadline = time.monotonic() + 30
        filtered = client.search(filtered_query, deadline)
        everything = client.search(f"Observation?patient={patient_id}", deadline)

    valuesets = default_library().valuesets
    relevant = {r["id"] for r in relevant_only(everything, valuesets)}
    asked = {r["id"] for r in filtered}
    all_observations = {r["id"] for r in resources if r["resourceType"] == "Observation"}
    assert len(everything) == len(all_observations)  # the unfiltered search really is the whole chart
    assert {"egfr-oid", "adl", "relief"} <= relevant
    assert asked == relevant  # nothing the policy reads is left on the server, nothing it never reads is sent
    assert {r["id"] for r in relevant_only(filtered, valuesets)} == relevant  # and filtering locally agrees
    assert len(everything) - len(asked) > 150  # the everyday vitals and labs stayed on the server
