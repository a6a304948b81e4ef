"""CDS_AUTH=off (local demos): loud about it, and still no SSRF — only CDS_DEV_FHIR_SERVERS may be fetched."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.response_checks import check_cds_response
from tests.support.security_harness import LOOPBACK_ONLY, SIGN_ID, Listener, diagnostics, fetching_body
from tests.support.service_process import ServiceProcess, start_service
from tests.support.stub_fhir import StubFhirServer

AUTH_OFF_WARNING = "CDS_AUTH=off"


@pytest.fixture(scope="module")
def listed() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        yield server


@pytest.fixture(scope="module")
def unlisted() -> Iterator[Listener]:
    """A loopback port that is not in CDS_DEV_FHIR_SERVERS."""
    with Listener() as listener:
        yield listener


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory, listed: StubFhirServer) -> Iterator[ServiceProcess]:
    svc = start_service(tmp_path_factory.mktemp("auth-off"), fhir_servers=[],
                        extra_env={"CDS_AUTH": "off", "CDS_DEV_FHIR_SERVERS": listed.base_url, **LOOPBACK_ONLY})
    yield svc
    svc.stop()


def test_readyz_says_authentication_is_off(demo_service):
    ready = demo_service.get("/readyz").json()
    assert ready["auth"] == "off"
    assert AUTH_OFF_WARNING in ready["warning"] and "demo" in ready["warning"].lower()


def test_start_up_and_every_call_log_a_warning(demo_service, listed):
    start_up = demo_service.log()
    assert AUTH_OFF_WARNING in start_up
    before = start_up.count(AUTH_OFF_WARNING)
    assert demo_service.hook(SIGN_ID, fetching_body(listed.base_url), auth=False).status_code == 200
    assert demo_service.log().count(AUTH_OFF_WARNING) > before


def test_calls_without_a_jwt_may_fetch_from_the_dev_fhir_server(demo_service, listed):
    seen = len(listed.requests)
    response = demo_service.hook(SIGN_ID, fetching_body(listed.base_url), auth=False)
    assert response.status_code == 200
    assert check_cds_response(response.json(), hook="order-sign") == []
    assert len(listed.requests) > seen


@pytest.mark.parametrize("make_url", [
    lambda listed, unlisted: f"http://{unlisted.authority}/fhir",
    lambda listed, unlisted: f"http://localhost:{unlisted.port}/fhir",
    lambda listed, unlisted: listed.base_url.replace("/fhir", "/fhir-admin"),
], ids=["another loopback port", "localhost on another port", "same server, path outside the list"])
def test_fhir_server_outside_the_dev_list_is_403_and_never_contacted(demo_service, listed, unlisted, make_url):
    seen = len(listed.requests)
    response = demo_service.hook(SIGN_ID, fetching_body(make_url(listed, unlisted)), auth=False)
    assert response.status_code == 403 and "allow-list" in diagnostics(response)
    assert unlisted.connections == 0
    assert len(listed.requests) == seen
