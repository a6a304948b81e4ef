"""The sandbox's path in a real browser: fetch() from another origin, CORS preflights, a signed JWT, the card back."""
from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

import pytest
import requests

from tests.integration.patient_view.stack import SANDBOX_JWKS_URL, SERVICE_ID, TEST_CLIENT_ISS
from tests.support.jwt_factory import make_claims
from tests.support.response_checks import check_cds_response
from tests.support.scenarios import scenario
from tests.support.service_process import start_service

pytestmark = pytest.mark.browser
PATIENT = scenario("rf-initial-covered")["patientId"]
ANSI_COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # the dev server colours some request-log lines


def _run_client(chromium, page_origin: str, service, fhir_base: str) -> tuple[str, str]:
    """Open the test page as a CDS client against `service`; returns (status line, response text)."""
    discovery = f"{service.base_url}/cds-services"

    def token(aud: str) -> str:
        # As the sandbox signs (sandbox.md §7): header alg ES384, typ, kid and a jku naming its public JWKS;
        # claims iss, aud = the exact URL called, iat, exp = iat + 300, jti. The client entry pins the key
        # inline (shaped like deploy/clients.example.json), so the jku must be ignored, never fetched.
        claims = make_claims(aud, TEST_CLIENT_ISS, jti=str(uuid.uuid4()), lifetime_s=300)
        return service.key.sign(claims, headers={"jku": SANDBOX_JWKS_URL})

    query = urlencode({"discovery": discovery, "discoveryToken": token(discovery),
                       "hookToken": token(f"{discovery}/{SERVICE_ID}"), "fhirServer": fhir_base, "patientId": PATIENT})
    page = chromium.new_page()
    try:
        page.goto(f"{page_origin}/cds_client.html?{query}")
        page.wait_for_function("document.getElementById('status').textContent !== 'running'", timeout=30_000)
        return page.text_content("#status") or "", page.text_content("#response") or ""
    finally:
        page.close()


def test_the_card_json_arrives_in_the_page(chromium, page_origin, sandbox_stack):
    clients = json.loads((sandbox_stack.service.log_path.parent / "clients.json").read_text())["clients"]
    entry = next(c for c in clients if c["iss"] == TEST_CLIENT_ISS)
    assert "jwks" in entry and "jwks_url" not in entry  # inline keys only, like the shipped example entry
    # CDS_AUTH=on: the same call without a JWT is refused, so the 200 below is the signed token's doing.
    unsigned = requests.post(f"{sandbox_stack.service.base_url}/cds-services/{SERVICE_ID}", json={}, timeout=10)
    assert unsigned.status_code == 401
    status, text = _run_client(chromium, page_origin, sandbox_stack.service, sandbox_stack.fhir_base)
    assert status == "done HTTP 200", status
    answer = json.loads(text)
    assert check_cds_response(answer, hook="patient-view") == []
    [card] = answer["cards"]
    assert card["summary"] == (
        "Facet readiness (CP.MP.171 05/26): lumbar block not covered (I.A.1), RF ready, therapeutic needs docs (I.D.3)")
    # The browser, not a test shortcut, asked the service's permission first.
    request_log = ANSI_COLOURS.sub("", sandbox_stack.service.log())
    assert f'"OPTIONS /cds-services/{SERVICE_ID}" 204' in request_log  # gunicorn's access line


def test_a_service_that_does_not_allow_the_page_origin_is_refused_by_the_browser(
        chromium, page_origin, sandbox_stack, tmp_path):
    clients = json.loads((sandbox_stack.service.log_path.parent / "clients.json").read_text())["clients"]
    service = start_service(tmp_path, clients=clients, key=sandbox_stack.service.key, iss=TEST_CLIENT_ISS,
                            extra_env={"CDS_CORS_ORIGINS": "http://127.0.0.1:9"})
    try:
        status, text = _run_client(chromium, page_origin, service, sandbox_stack.fhir_base)
    finally:
        service.stop()
    assert status == "failed: TypeError: Failed to fetch"
    assert text == ""
