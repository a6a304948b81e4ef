"""The EHR's FHIR server misbehaving, seen by the EHR: a prompt 200 `indeterminate`, never an error.

A real service process with CDS_FHIR_TIMEOUT_S=1 fetches (no prefetch) from an allow-listed stub that fails
in one way per case. The order names a Coverage in `insurance`, so every answer must carry coverage-information
`indeterminate` with the reason code `technical`, within the 1 s budget + 0.5 s, with no error text in the
cards; and the service must stay healthy: /healthz and an ordinary prefetched call still answer at once.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.jwt_factory import KeyPair
from tests.support.response_checks import check_cds_response
from tests.support.security_harness import (
    FHIR_TOKEN,
    assert_indeterminate_for_technical_reasons,
    coverage_information,
    fetching_body,
    prefetched_body,
    start_service_trusting,
)
from tests.support.service_process import EHR_ISS, ServiceProcess
from tests.support.stub_fhir import Fault, StubFhirServer, unused_loopback_url

DEADLINE_S = 1.0
ANSWER_WITHIN_S = DEADLINE_S + 0.5
FIFTY_MB = 50 * 1024 * 1024
# What the service knows about each failure; none of it may reach a clinician's screen.
ERROR_TEXT = ("HTTP 401", "HTTP 500", "timed out", "deadline", "not JSON", "connection failed", "pages",
              "larger than", "Traceback", "Exception", "127.0.0.1", FHIR_TOKEN)


@pytest.fixture(scope="module")
def fhir() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        yield server


@pytest.fixture(scope="module")
def down_url() -> str:
    return unused_loopback_url()


@pytest.fixture(scope="module")
def service(tmp_path_factory, fhir: StubFhirServer, down_url: str) -> Iterator[ServiceProcess]:
    # (start_service cannot override its own CDS_FHIR_TIMEOUT_S=3: its env dict() gets the name twice)
    key = KeyPair.generate("ES384")
    client = {"iss": EHR_ISS, "jwks": key.jwks(), "fhir_servers": [fhir.base_url, down_url]}
    svc = start_service_trusting(tmp_path_factory.mktemp("faults"), [client], key=key, iss=EHR_ISS,
                                 extra_env={"CDS_FHIR_TIMEOUT_S": str(DEADLINE_S)})
    yield svc
    svc.stop()


@pytest.fixture
def faulty(fhir: StubFhirServer) -> Iterator[StubFhirServer]:
    fhir.clear_faults()
    yield fhir
    fhir.clear_faults()


def _inject(fault: Fault) -> Callable[[StubFhirServer, str], str]:
    def setup(fhir: StubFhirServer, down_url: str) -> str:
        fhir.inject("", fault)  # every path: all ten evidence queries fail the same way
        return fhir.base_url
    return setup


FAULTS: dict[str, Callable[[StubFhirServer, str], str]] = {
    "server down": lambda fhir, down_url: down_url,
    "slow past the deadline": _inject(Fault.delay(5.0)),
    "401": _inject(Fault.status(401)),
    "500": _inject(Fault.status(500)),
    "invalid JSON": _inject(Fault.invalid_json()),
    "endless paging": _inject(Fault.endless_paging()),
    "50 MB streamed": _inject(Fault.huge_body(FIFTY_MB)),
    "50 MB with Content-Length": _inject(Fault.huge_body(FIFTY_MB, declare_length=True)),
}


@pytest.mark.parametrize("setup", FAULTS.values(), ids=FAULTS.keys())
def test_fhir_fault_is_a_prompt_indeterminate_and_the_service_stays_healthy(service, faulty, down_url, setup):
    body = fetching_body(setup(faulty, down_url))
    started = time.monotonic()
    response = service.hook("facet-order-sign", body, timeout=10)
    elapsed = time.monotonic() - started
    print(f"fault answered in {elapsed:.3f} s (deadline {DEADLINE_S} s)")

    assert response.status_code == 200
    assert elapsed < ANSWER_WITHIN_S
    answer = response.json()
    assert check_cds_response(answer, hook="order-sign") == []
    assert_indeterminate_for_technical_reasons(answer)
    cards = json.dumps(answer["cards"])
    assert [text for text in ERROR_TEXT if text in cards] == []

    assert service.get("/healthz").json() == {"status": "ok"}
    started = time.monotonic()
    normal = service.hook("facet-order-sign", prefetched_body())
    assert normal.status_code == 200 and time.monotonic() - started < ANSWER_WITHIN_S
    assert {parts["covered"] for parts in coverage_information(normal.json())} == {"covered"}
