"""A FHIR server that fails in every way we know: gather_record answers in time, with a technical problem.

Each case runs a full gather_record (no prefetch, so all ten keys are fetched in parallel) against the stub
with the fault on every path, and must return within the deadline + 0.5 s, without raising, with
`technical_problem` set, and without the bearer token in any text it produces.
"""
from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from cds_service.fhir_access import FetchLimits, FhirClient, FhirUnavailable, gather_record, new_session
from tests.support.hook_requests import as_request
from tests.support.stub_fhir import Fault, StubFhirServer, unused_loopback_url

DEADLINE_S = 1.0
TOKEN = "fault-suite-token-5f2c9a"
FIFTY_MB = 50 * 1024 * 1024

# case -> (set the fault up and return the fhirServer URL to use, a pattern the reason must match)
FaultSetup = Callable[[StubFhirServer, StubFhirServer], str]
CASES: dict[str, tuple[FaultSetup, str]] = {
    "server down": (lambda fhir, elsewhere: unused_loopback_url(), "connection failed"),
    # whichever comes first: the request's own timeout or gather_record's wait
    "slow past the deadline": (
        lambda fhir, elsewhere: _inject(fhir, Fault.delay(5.0)),
        "timed out|before the deadline",
    ),
    "401": (lambda fhir, elsewhere: _inject(fhir, Fault.status(401)), "HTTP 401"),
    "500": (lambda fhir, elsewhere: _inject(fhir, Fault.status(500)), "HTTP 500"),
    "invalid JSON": (lambda fhir, elsewhere: _inject(fhir, Fault.invalid_json()), "not JSON"),
    "not a Bundle": (lambda fhir, elsewhere: _inject(fhir, Fault.not_a_bundle()), "not a Bundle"),
    "endless paging": (lambda fhir, elsewhere: _inject(fhir, Fault.endless_paging()), "more than 20 pages"),
    "next link repeats itself": (lambda fhir, elsewhere: _inject(fhir, Fault.repeated_next()), "repeats a page"),
    "50 MB streamed body": (lambda fhir, elsewhere: _inject(fhir, Fault.huge_body(FIFTY_MB)), "larger than"),
    "50 MB declared body": (
        lambda fhir, elsewhere: _inject(fhir, Fault.huge_body(FIFTY_MB, declare_length=True)),
        "larger than",
    ),
    "redirect to another loopback port": (
        lambda fhir, elsewhere: _inject(fhir, Fault.redirect(f"{elsewhere.base_url}/Condition")),
        "HTTP 302",
    ),
}


def _inject(fhir: StubFhirServer, fault: Fault) -> str:
    fhir.inject("", fault)
    return fhir.base_url


@pytest.fixture
def fhir():
    with StubFhirServer() as server:
        yield server


@pytest.fixture
def elsewhere():
    """Another loopback server: a redirect target that must never be contacted."""
    with StubFhirServer() as server:
        yield server


@pytest.fixture(scope="module")
def executor():
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="fault-suite") as pool:
        yield pool


@pytest.fixture(scope="module")
def session():
    with new_session() as shared:
        yield shared


def hook_request(fhir_server: str) -> dict:
    return {
        "hook": "order-sign",
        "hookInstance": "2b6a4c1e-7d0f-4a53-9f1e-0c2d7f1c9a11",
        "fhirServer": fhir_server,
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer", "scope": "patient/*.read"},
        "context": {"patientId": "pat-a", "userId": "Practitioner/1"},
    }


@pytest.mark.parametrize("case", list(CASES))
def test_fault_gives_a_technical_problem_within_the_deadline(case, fhir, elsewhere, executor, session):
    set_up, expected_reason = CASES[case]
    fhir_server = set_up(fhir, elsewhere)
    limits = FetchLimits(timeout_s=DEADLINE_S)
    started = time.monotonic()

    record = gather_record(
        as_request(hook_request(fhir_server)),
        client_factory=lambda url, token: FhirClient(url, token, session, limits),
        limits=limits,
        executor=executor,
    )

    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S + 0.5, f"{case}: {elapsed:.2f} s"
    assert record.technical_problem is not None
    assert re.search(expected_reason, record.technical_problem)
    assert record.resources == []
    assert TOKEN not in record.technical_problem
    assert all(TOKEN not in warning for warning in record.warnings)
    if case != "server down":
        assert fhir.requests, "the server saw no request"
        assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in fhir.requests)


def test_a_redirect_is_never_followed(fhir, elsewhere, executor, session):
    CASES["redirect to another loopback port"][0](fhir, elsewhere)

    gather_record(
        as_request(hook_request(fhir.base_url)),
        client_factory=lambda url, token: FhirClient(url, token, session),
        deadline_s=DEADLINE_S,
        executor=executor,
    )

    assert elsewhere.connections == 0
    assert elsewhere.requests == []


@pytest.mark.parametrize("case", list(CASES))
def test_the_token_never_appears_in_exception_text(case, fhir, elsewhere, session):
    fhir_server = CASES[case][0](fhir, elsewhere)
    client = FhirClient(fhir_server, TOKEN, session, FetchLimits())

    with pytest.raises(FhirUnavailable) as raised:
        client.search("Condition?patient=pat-a", time.monotonic() + DEADLINE_S)

    text = "".join(traceback.format_exception(raised.value)) + repr(raised.value)
    assert TOKEN not in text
    assert "pat-a" not in raised.value.reason  # no query string, so no patient id, in the reason
    assert raised.value.__cause__ is None


def test_one_slow_key_costs_only_that_key(fhir, executor, session):
    fhir.add(
        {"resourceType": "Patient", "id": "pat-a"},
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pat-a"}},
    )
    fhir.inject("Observation", Fault.delay(5.0))
    started = time.monotonic()

    record = gather_record(
        as_request(hook_request(fhir.base_url)),
        client_factory=lambda url, token: FhirClient(url, token, session),
        deadline_s=DEADLINE_S,
        executor=executor,
    )

    assert time.monotonic() - started < DEADLINE_S + 0.5
    assert record.technical_problem is not None
    assert record.technical_problem.startswith("observations:")
    assert ";" not in record.technical_problem
    assert [r["id"] for r in record.resources] == ["pat-a", "c1"]
