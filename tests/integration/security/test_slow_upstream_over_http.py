"""No slow FHIR server can starve the others, seen over HTTP against a real service process.

A stub FHIR server drips its answers one byte every 0.5 s (each read gets a byte, so no read timeout ever
fires): the hook call must still answer `indeterminate` at its absolute deadline and hang up on that server.
And while calls against the dripping server A keep its bulkhead full, a call against a fast server B still
gets its data and a real decision; A never holds more fetch connections than its share.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.support.hook_bodies import hook_body
from tests.support.jwt_factory import KeyPair
from tests.support.scenarios import record_resources, scenario
from tests.support.security_harness import (
    SCENARIO_ID,
    assert_indeterminate_for_technical_reasons,
    coverage_information,
    fetching_body,
    start_service_trusting,
)
from tests.support.service_process import EHR_ISS, ServiceProcess
from tests.support.stub_fhir import Fault, StubFhirServer
from tests.support.waiting import wait_until

DEADLINE_S = 1.5
PER_SERVER = 3  # CDS_FHIR_MAX_FETCHES_PER_SERVER: the service's fetch pool is twice that
# generous bound: "ended at the deadline", not "when the server finished dripping" (15 s later)
ANSWER_WITHIN_S = DEADLINE_S + 3.0


@pytest.fixture(scope="module")
def slow() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        server.inject("", Fault.drip(0.5))
        yield server


@pytest.fixture(scope="module")
def fast() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        server.add(*record_resources(scenario(SCENARIO_ID)))
        yield server


@pytest.fixture(scope="module")
def service(tmp_path_factory, slow: StubFhirServer, fast: StubFhirServer) -> Iterator[ServiceProcess]:
    key = KeyPair.generate("ES384")
    client = {"iss": EHR_ISS, "jwks": key.jwks(), "fhir_servers": [slow.base_url, fast.base_url]}
    svc = start_service_trusting(
        tmp_path_factory.mktemp("slow-upstream"), [client], key=key, iss=EHR_ISS,
        extra_env={"CDS_FHIR_TIMEOUT_S": str(DEADLINE_S), "CDS_FHIR_MAX_FETCHES_PER_SERVER": str(PER_SERVER),
                   "GUNICORN_WORKERS": "1"},  # the bulkhead is per worker process: one, so it is counted exactly
    )
    yield svc
    svc.stop()


def fast_body(fast: StubFhirServer) -> dict:
    # a new token each time: the record cache (keyed by token) cannot answer in place of server B
    return hook_body(scenario(SCENARIO_ID), "order-sign", fhir_server=fast.base_url,
                     token=f"tok-{uuid.uuid4()}", prefetch=False)


def test_a_dripping_fhir_server_is_cut_off_at_the_call_deadline(service, slow):
    started = time.monotonic()
    response = service.hook("facet-order-sign", fetching_body(slow.base_url), timeout=30)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < ANSWER_WITHIN_S, f"answered after {elapsed:.1f} s"
    assert_indeterminate_for_technical_reasons(response.json())
    # no fetch thread is left reading the dripped answers: the service hung up on every one of them
    assert wait_until(lambda: slow.open_drips == 0, 3.0), f"{slow.open_drips} answers still being read"


def test_a_slow_server_saturating_its_bulkhead_leaves_threads_for_a_fast_one(service, slow, fast):
    stop = threading.Event()
    slow_answers: list[int] = []

    def keep_calling_slow() -> None:  # 4 callers x 10 fetches each: far more than the whole fetch pool
        session = requests.Session()
        while not stop.is_set():
            body = fetching_body(slow.base_url)
            path = "/cds-services/facet-order-sign"
            response = session.post(f"{service.base_url}{path}", json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {service.token(path)}"})
            slow_answers.append(response.status_code)

    callers = [threading.Thread(target=keep_calling_slow, daemon=True) for _ in range(4)]
    for caller in callers:
        caller.start()
    try:
        assert wait_until(lambda: slow.open_drips >= PER_SERVER, 5.0), "server A never saturated its share"
        decisions = []
        for _ in range(3):
            answer = service.hook("facet-order-sign", fast_body(fast), timeout=30)
            assert answer.status_code == 200
            decisions.append({parts["covered"] for parts in coverage_information(answer.json())})
    finally:
        stop.set()
        for caller in callers:
            caller.join(timeout=20)

    # server B's calls got their data: a real decision, not indeterminate for want of a fetch thread
    assert decisions == [{"covered"}] * 3
    assert slow_answers and set(slow_answers) == {200}
    # server A never had more fetches at once than its share, and the surplus was refused, not queued
    # (+1: the stub sees a hang-up a moment after the service freed the permit; without the bulkhead A
    # holds the whole fetch pool, 2 * PER_SERVER)
    assert slow.most_open_drips <= PER_SERVER + 1
    assert "too many fetches in flight to this FHIR server" in service.log()
    assert wait_until(lambda: slow.open_drips == 0, 3.0)
