"""Switching patient-view off, trusting the real CDS Hooks sandbox, and requests shaped as the sandbox sends them."""
from __future__ import annotations

import pytest

from tests.integration.patient_view.stack import (
    SANDBOX_ISS,
    SANDBOX_KID,
    SANDBOX_USER,
    SERVICE_ID,
    overview,
    patient_view_body,
)
from tests.support.jwt_factory import make_claims
from tests.support.response_checks import check_cds_response
from tests.support.scenarios import record_resources, scenario
from tests.support.service_process import start_service

PAGE_ORIGIN = "http://127.0.0.1:9"  # any origin other than the service's


def _hooks(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {s["hook"] for s in response.json()["services"]}


def test_discovery_offers_patient_view_with_prefetch_by_default(service):
    services = {s["hook"]: s for s in service.get("/cds-services").json()["services"]}
    assert services["patient-view"]["id"] == SERVICE_ID
    assert services["patient-view"]["prefetch"]["conditions"] == "Condition?patient={{context.patientId}}"


def test_switched_off_it_leaves_discovery_and_its_url_answers_404(tmp_path, fhir_server):
    service = start_service(tmp_path, fhir_servers=[fhir_server], extra_env={"CDS_PATIENT_VIEW": "off"})
    try:
        assert _hooks(service.get("/cds-services")) == {"order-select", "order-sign"}
        response = service.hook(SERVICE_ID, patient_view_body("s01-patient"))
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"
    finally:
        service.stop()


def test_a_service_trusting_the_sandbox_entry_starts_and_answers_discovery_with_cors(sandbox_stack):
    service = sandbox_stack.service
    response = service.get("/cds-services", headers={"Origin": PAGE_ORIGIN})
    assert "patient-view" in _hooks(response)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", PAGE_ORIGIN)
    assert service.get("/readyz").json()["trustedClients"] == 2


def test_a_token_that_claims_to_be_the_sandbox_but_is_not_signed_by_its_key_is_refused(sandbox_stack):
    service = sandbox_stack.service
    url = f"{service.base_url}/cds-services/{SERVICE_ID}"
    # The sandbox's own kid: its inline key is used, so nothing is fetched from the jwks_url.
    forged = service.key.sign(make_claims(url, SANDBOX_ISS), headers={"kid": SANDBOX_KID})
    body = patient_view_body("s01-patient", fhir_server=sandbox_stack.fhir_base, user=SANDBOX_USER)
    response = service.hook(SERVICE_ID, body, auth=False, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def _sandbox_prefetch(patient_id: str) -> dict:
    """What the sandbox prefetches (sandbox.md §8): the keys it could fill; the rest are simply missing."""
    resources = record_resources(scenario("rf-initial-covered"))
    patient = next(r for r in resources if r["resourceType"] == "Patient" and r["id"] == patient_id)
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    return {"patient": patient,
            "conditions": {"resourceType": "Bundle", "type": "searchset", "total": len(conditions),
                           "entry": [{"resource": c} for c in conditions]}}


@pytest.mark.parametrize("prefetch", ["partly missing", "none"])
def test_a_sandbox_shaped_request_reads_the_rest_from_the_open_fhir_server(sandbox_stack, prefetch):
    patient_id = scenario("rf-initial-covered")["patientId"]
    # No fhirAuthorization, no version field, no encounterId; the sandbox's fixed practitioner.
    body = patient_view_body(patient_id, fhir_server=sandbox_stack.fhir_base, user=SANDBOX_USER,
                             prefetch=_sandbox_prefetch(patient_id) if prefetch == "partly missing" else None)
    response = sandbox_stack.service.hook(SERVICE_ID, body, headers={"Origin": PAGE_ORIGIN})
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] in ("*", PAGE_ORIGIN)
    answer = response.json()
    assert check_cds_response(answer, hook="patient-view") == []
    lines = overview(answer["cards"][0])
    assert lines["Lumbar facet RF ablation"].verdict == "would be covered"
    assert (lines["Lumbar facet block"].verdict, lines["Lumbar facet block"].criteria) == ("not covered", ("I.A.1",))


def test_a_fhir_server_not_on_the_clients_list_is_refused_before_any_traffic(sandbox_stack):
    body = patient_view_body("s01-patient", fhir_server="http://127.0.0.1:9/fhir", user=SANDBOX_USER)
    assert sandbox_stack.service.hook(SERVICE_ID, body).status_code == 403
