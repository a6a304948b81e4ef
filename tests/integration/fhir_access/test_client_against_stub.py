"""FhirClient against the in-repo stub server: paging, headers, warnings, refusals."""
from __future__ import annotations

import time

import pytest

from cds_service.fhir_access import FetchLimits, FhirClient, FhirUnavailable, new_session
from tests.support.stub_fhir import Fault, StubFhirServer

TOKEN = "stub-token-1234"


def condition(resource_id, patient="pat-a"):
    return {"resourceType": "Condition", "id": resource_id, "subject": {"reference": f"Patient/{patient}"}}


@pytest.fixture
def fhir():
    with StubFhirServer(page_size=2) as server:
        yield server


@pytest.fixture
def session():
    with new_session() as shared:
        yield shared


def client_for(server, session, token=TOKEN, **limits):
    return FhirClient(server.base_url, token, session, FetchLimits(**limits))


def soon(seconds=2.0):
    return time.monotonic() + seconds


def test_search_follows_next_links_and_returns_every_page(fhir, session):
    fhir.add(*(condition(f"c{i}") for i in range(5)))

    resources = client_for(fhir, session).search("Condition?patient=pat-a&_count=2", soon())

    assert [r["id"] for r in resources] == ["c0", "c1", "c2", "c3", "c4"]
    assert [request.query.get("_offset") for request in fhir.requests] == [None, ["2"], ["4"]]


def test_search_asks_for_large_pages_unless_the_query_sets_a_page_size(fhir, session):
    fhir.add(*(condition(f"c{i}") for i in range(5)))

    client_for(fhir, session).search("Condition?patient=pat-a", soon())

    assert len(fhir.requests) == 1 and fhir.requests[0].query["_count"] == ["200"]


def test_every_request_carries_the_token_and_asks_for_fhir_json(fhir, session):
    fhir.add(*(condition(f"c{i}") for i in range(3)))

    client_for(fhir, session).search("Condition?patient=pat-a&_count=2", soon())

    assert len(fhir.requests) == 2
    for request in fhir.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/fhir+json"


def test_no_token_means_no_authorization_header(fhir, session):
    fhir.add(condition("c0"))

    client_for(fhir, session, token=None).search("Condition", soon())

    assert "Authorization" not in fhir.requests[0].headers


def test_read_returns_the_resource_and_checks_its_type(fhir, session):
    fhir.add({"resourceType": "Patient", "id": "pat-a"})
    client = client_for(fhir, session)

    patient = client.read("Patient/pat-a", soon())
    with pytest.raises(FhirUnavailable, match="Patient read: HTTP 404"):
        client.read("Patient/nobody", soon())

    assert patient == {"resourceType": "Patient", "id": "pat-a"}


def test_a_read_answered_with_another_type_fails(fhir, session):
    fhir.inject("Patient", Fault.not_a_bundle())  # answers an OperationOutcome with 200

    with pytest.raises(FhirUnavailable, match="answer is not a Patient"):
        client_for(fhir, session).read("Patient/pat-a", soon())


def test_next_link_to_another_host_is_refused_before_any_connection(fhir, session):
    with StubFhirServer() as elsewhere:
        fhir.inject("Condition", Fault.next_link(f"{elsewhere.base_url}/Condition?page=2"))

        with pytest.raises(FhirUnavailable, match="next link points outside fhirServer"):
            client_for(fhir, session).search("Condition?patient=pat-a", soon())

        assert elsewhere.connections == 0


@pytest.mark.parametrize(
    "next_url",
    [
        "http://127.0.0.2:{port}/fhir/Condition?page=2",  # another host
        "https://127.0.0.1:{port}/fhir/Condition?page=2",  # another scheme
        "http://127.0.0.1:{port}/admin/Condition",  # outside the base path
        "http://127.0.0.1:{port}/fhirx/Condition",  # a longer sibling of the base path
        "http://127.0.0.1:{port}/fhir/../admin",  # climbing out
        "http://user@127.0.0.1:{port}/fhir/Condition",  # user info
        # escapes read as a server reads them (percent-decoded, dots resolved), in every spelling
        "http://127.0.0.1:{port}/fhir/%2e%2e/admin/Condition",
        "http://127.0.0.1:{port}/fhir/%2E%2e/admin/Condition",  # mixed-case hex
        "http://127.0.0.1:{port}/fhir/.%2e/admin/Condition",
        "http://127.0.0.1:{port}/fhir/%2E./admin/Condition",
        "http://127.0.0.1:{port}/fhir%2f..%2fadmin/Condition",  # encoded slashes
        "http://127.0.0.1:{port}/fhir%2F%2E%2E%2Fadmin/Condition",
        "http://127.0.0.1:{port}/fhir/%252e%252e/admin/Condition",  # double-encoded
        "http://127.0.0.1:{port}/fhir/..;/admin/Condition",  # path parameter after the dots
        "http://127.0.0.1:{port}/fhir/..%5cadmin/Condition",  # encoded backslash
        "http://127.0.0.1:{port}/fhir//admin/Condition",  # double slash
        "http://127.0.0.1:{port}//fhir/Condition",
        "http://127.0.0.1:{port}/fhir/./Condition",
        "http://127.0.0.1:{port}/fhir/%ff%fe/Condition",  # escapes that are not UTF-8
        "%2e%2e/admin/Condition",  # relative, resolved against the base
        ".%2E/admin/Condition",
        "%2e%2e%2fadmin/Condition",
    ],
)
def test_next_links_must_stay_under_the_base_url(fhir, session, next_url):
    fhir.inject("Condition", Fault.next_link(next_url.format(port=fhir.port)))

    with pytest.raises(FhirUnavailable, match="outside fhirServer"):
        client_for(fhir, session).search("Condition", soon())

    # nothing was asked of the server after the first page, so the token never went with the link
    assert len(fhir.requests) == 1


def test_escaped_next_link_is_not_followed_to_another_tenant_on_the_same_server(session):
    # Two tenants behind one origin: paging from tenant-a must never reach tenant-b with tenant-a's token.
    with StubFhirServer(base_path="/tenant-a/fhir") as fhir:
        fhir.inject("Condition", Fault.next_link(f"http://127.0.0.1:{fhir.port}/tenant-a/fhir/%2E%2e/%2e./tenant-b/fhir/Condition"))

        with pytest.raises(FhirUnavailable, match="outside fhirServer"):
            client_for(fhir, session).search("Condition", soon())

        assert [request.path for request in fhir.requests] == ["/tenant-a/fhir/Condition"]


def test_next_link_with_escapes_only_in_its_query_is_followed(fhir, session):
    fhir.inject("Condition", Fault.next_link("Observation?page=2&cursor=%2e%2e%2Fadmin"))
    fhir.add({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/pat-a"}})

    resources = client_for(fhir, session).search("Condition", soon())

    assert [r["id"] for r in resources] == ["page-1", "o1"]
    assert fhir.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_relative_next_link_is_followed_on_the_same_server(fhir, session):
    fhir.inject("Condition", Fault.next_link("Observation?page=2"))
    fhir.add({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/pat-a"}})

    resources = client_for(fhir, session).search("Condition", soon())

    assert [r["id"] for r in resources] == ["page-1", "o1"]


def test_operation_outcome_entries_are_warnings_not_data(fhir, session):
    outcome = {
        "resourceType": "OperationOutcome",
        "id": "oo",
        "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": "patient=pat-a ignored"}],
    }
    fhir.add(condition("c0"), outcome)
    client = client_for(fhir, session)

    conditions = client.search("Condition", soon())
    outcomes = client.search("OperationOutcome", soon())

    assert [r["id"] for r in conditions] == ["c0"]
    assert outcomes == []
    assert client.warnings == ["OperationOutcome search: server note warning/not-supported"]


def test_too_many_resources_in_one_search_fails(fhir, session):
    fhir.add(*(condition(f"c{i}") for i in range(5)))

    with pytest.raises(FhirUnavailable, match="more than 3 resources"):
        client_for(fhir, session, max_resources=3).search("Condition", soon())


def test_a_declared_length_over_the_limit_fails_without_reading_the_body(fhir, session):
    fhir.inject("Condition", Fault.huge_body(5_000, declare_length=True))

    with pytest.raises(FhirUnavailable, match="larger than 1000 bytes"):
        client_for(fhir, session, max_response_bytes=1000).search("Condition", soon())


def test_a_passed_deadline_sends_nothing(fhir, session):
    with pytest.raises(FhirUnavailable, match="deadline passed"):
        client_for(fhir, session).search("Condition", time.monotonic() - 1)

    assert fhir.requests == []


def test_a_base_url_that_is_not_http_is_refused(session):
    with pytest.raises(FhirUnavailable, match="not an absolute http"):
        FhirClient("file:///etc/passwd", TOKEN, session)
