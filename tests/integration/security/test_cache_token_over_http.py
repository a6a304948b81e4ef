"""Data fetched with one FHIR access token is never served to a call made with another, or with none
(contract §4: the order-select cache key is iss + fhirServer + patient + a hash of the token).

Over real HTTP: a running service (CDS_AUTH=on) and a loopback stub FHIR server that records every request
with its Authorization header. order-select warms the cache; order-sign with the same token may reuse it,
with another token or none it must fetch everything again, with its own credentials.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hook_bodies import hook_body
from tests.support.jwt_factory import KeyPair
from tests.support.scenarios import record_resources, scenario
from tests.support.security_harness import SCENARIO_ID, start_service_trusting
from tests.support.service_process import ServiceProcess
from tests.support.stub_fhir import SeenRequest, StubFhirServer

ISS = "https://ehr-cache.test.example"
TOKEN_A = "fhir-token-of-the-first-user-5b1c"
TOKEN_B = "fhir-token-of-another-user-90ef"
OTHER_CALLS = {"another token": TOKEN_B, "no token": None}


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, StubFhirServer]]:
    """One FHIR server per case, so each starts with a cold cache (the key includes fhirServer)."""
    servers = {case: StubFhirServer().start() for case in OTHER_CALLS}
    for server in servers.values():
        server.add(*record_resources(scenario(SCENARIO_ID)))
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, stubs: dict[str, StubFhirServer]) -> Iterator[ServiceProcess]:
    key = KeyPair.generate("ES384")
    clients = [{"iss": ISS, "jwks": key.jwks(), "fhir_servers": [s.base_url for s in stubs.values()]}]
    svc = start_service_trusting(tmp_path_factory.mktemp("cache-token"), clients, key=key, iss=ISS,
                                 extra_env={"CDS_AUTH": "on"})
    yield svc
    svc.stop()


def _call(service: ServiceProcess, fhir: StubFhirServer, hook: str, token: str | None) -> list[SeenRequest]:
    """One hook call that must fetch from `fhir`; returns the requests it caused there."""
    seen = len(fhir.requests)
    body = hook_body(scenario(SCENARIO_ID), hook, fhir_server=fhir.base_url, token=token, prefetch=False)
    response = service.hook(f"facet-{hook}", body)
    assert response.status_code == 200, response.text
    return fhir.requests[seen:]


def _searches(requests: list[SeenRequest]) -> set[str]:
    return {request.path for request in requests}


@pytest.mark.parametrize("case", OTHER_CALLS)
def test_order_sign_with_another_token_or_none_never_reuses_order_selects_data(service, stubs, case):
    fhir, other_token = stubs[case], OTHER_CALLS[case]

    warmed = _call(service, fhir, "order-select", TOKEN_A)
    assert warmed and {r.headers.get("Authorization") for r in warmed} == {f"Bearer {TOKEN_A}"}
    # Same token: the cache works (some searches are not repeated), so the next check can fail.
    reused = _call(service, fhir, "order-sign", TOKEN_A)
    assert _searches(warmed) - _searches(reused)

    refetched = _call(service, fhir, "order-sign", other_token)
    assert _searches(refetched) == _searches(warmed)  # every search again, none answered from A's data
    expected = f"Bearer {other_token}" if other_token else None
    assert {r.headers.get("Authorization") for r in refetched} == {expected}
