"""FhirClient against a FHIR server dripping one byte every 0.2 s: every read gets a byte long before any read
timeout, so only the absolute deadline can end the fetch. It must end there, and hang up on the server."""
from __future__ import annotations

import time

import pytest

from cds_service.fhir_access import FetchLimits, FhirClient, FhirUnavailable, new_session
from tests.support.stub_fhir import Fault, StubFhirServer
from tests.support.waiting import wait_until

DEADLINE_S = 1.0
# generous: shows "ended at the deadline", not "ended when the server finished, minutes later"
ENDED_WITHIN_S = DEADLINE_S + 2.0


@pytest.mark.parametrize("headers_too", [True, False], ids=["headers and body dripped", "body dripped"])
def test_a_dripping_server_is_cut_off_at_the_deadline(headers_too):
    with StubFhirServer() as fhir, new_session() as session:
        fhir.inject("", Fault.drip(0.2, headers_too=headers_too))
        client = FhirClient(fhir.base_url, "token", session, FetchLimits())
        started = time.monotonic()

        with pytest.raises(FhirUnavailable) as raised:
            client.search("Condition?patient=pat-a", deadline=started + DEADLINE_S)

        assert time.monotonic() - started < ENDED_WITHIN_S
        assert "deadline" in raised.value.reason
        # the socket was really closed: the server sees the hang-up (no read is left running on it)
        assert wait_until(lambda: fhir.open_drips == 0, 3.0), "the client is still reading the dripped answer"


def test_the_connection_pool_still_works_after_a_cut_off():
    with StubFhirServer() as fhir, new_session() as session:
        fhir.add({"resourceType": "Patient", "id": "pat-a"})
        client = FhirClient(fhir.base_url, "token", session, FetchLimits())
        assert client.read("Patient/pat-a", time.monotonic() + 2)["id"] == "pat-a"  # a pooled connection
        fhir.inject("Condition", Fault.drip(0.2))
        with pytest.raises(FhirUnavailable):
            client.search("Condition?patient=pat-a", deadline=time.monotonic() + 0.5)
        time.sleep(0.2)

        for _ in range(3):  # the watchdog shut only the dripping connection, never one back in the pool
            assert client.read("Patient/pat-a", time.monotonic() + 2)["id"] == "pat-a"
