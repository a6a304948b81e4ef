"""SSRF over real HTTP: a client may make the service fetch from its allow-listed FHIR server only.

Every `fhirServer` below is a disguise of some other loopback endpoint, or of the allowed server's origin
outside its path. Each is refused with 403 before any traffic: the listeners it points at must see no
connection, and the allowed stub no request. Redirects and `next` links from the allowed server to another
loopback server are not followed, and the `fhirAuthorization` token reaches the allowed server only.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.security_harness import (
    FHIR_TOKEN,
    Listener,
    assert_indeterminate_for_technical_reasons,
    diagnostics,
    fetching_body,
)
from tests.support.service_process import ServiceProcess, start_service
from tests.support.stub_fhir import Fault, StubFhirServer


@pytest.fixture(scope="module")
def allowed() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        yield server


@dataclass(frozen=True)
class Targets:
    """What an attacker would like the service to reach instead: listeners that must stay untouched."""

    v4: Listener
    v6: Listener


@pytest.fixture(scope="module")
def targets() -> Iterator[Targets]:
    with Listener("127.0.0.1") as v4, Listener("::1") as v6:
        yield Targets(v4, v6)


@pytest.fixture(scope="module")
def service(tmp_path_factory, allowed: StubFhirServer) -> Iterator[ServiceProcess]:
    svc = start_service(tmp_path_factory.mktemp("ssrf"), fhir_servers=[allowed.base_url])
    yield svc
    svc.stop()


@pytest.fixture
def clean_allowed(allowed: StubFhirServer) -> Iterator[StubFhirServer]:
    allowed.clear_faults()
    yield allowed
    allowed.clear_faults()


# (allowed server's port, IPv4 target port, IPv6 target port) -> fhirServer
Disguise = Callable[[int, int, int], str]
DISGUISES: dict[str, Disguise] = {
    # loopback endpoints that are not on the list
    "127.0.0.2 (another loopback address)": lambda a, t, t6: f"http://127.0.0.2:{t}/fhir",
    "localhost on an unlisted port": lambda a, t, t6: f"http://localhost:{t}/fhir",
    "localhost for the allowed 127.0.0.1": lambda a, t, t6: f"http://localhost:{a}/fhir",
    "https instead of http": lambda a, t, t6: f"https://127.0.0.1:{a}/fhir",
    # loopback spelled so that getaddrinfo resolves it to 127.0.0.1
    "decimal IPv4": lambda a, t, t6: f"http://2130706433:{t}/fhir",
    "hex IPv4": lambda a, t, t6: f"http://0x7f000001:{t}/fhir",
    "octal IPv4": lambda a, t, t6: f"http://0177.0.0.1:{t}/fhir",
    "short IPv4 127.1": lambda a, t, t6: f"http://127.1:{t}/fhir",
    # IPv6 loopback forms
    "IPv6 [::1]": lambda a, t, t6: f"http://[::1]:{t6}/fhir",
    "IPv6 [0:0:0:0:0:0:0:1]": lambda a, t, t6: f"http://[0:0:0:0:0:0:0:1]:{t6}/fhir",
    "IPv4-mapped [::ffff:127.0.0.1]": lambda a, t, t6: f"http://[::ffff:127.0.0.1]:{t}/fhir",
    "IPv4-mapped hex [::ffff:7f00:1]": lambda a, t, t6: f"http://[::ffff:7f00:1]:{t}/fhir",
    # other schemes
    "file:// on the allowed host": lambda a, t, t6: f"file://127.0.0.1:{a}/fhir",
    "file:///proc/self/environ": lambda a, t, t6: "file:///proc/self/environ",
    "gopher://": lambda a, t, t6: f"gopher://127.0.0.1:{t}/_GET%20/fhir",
    "ftp://": lambda a, t, t6: f"ftp://127.0.0.1:{t}/fhir",
    # the allowed server named in the user info, the real host elsewhere
    "userinfo naming the allowed host": lambda a, t, t6: f"http://allowed-host@127.0.0.1:{t}/fhir",
    "userinfo naming the allowed origin": lambda a, t, t6: f"http://127.0.0.1:{a}@127.0.0.1:{t}/fhir",
    "backslash before @": lambda a, t, t6: f"http://127.0.0.1:{t}\\@127.0.0.1:{a}/fhir",
    "fragment before @": lambda a, t, t6: f"http://127.0.0.1:{t}#@127.0.0.1:{a}/fhir",
    "query before @": lambda a, t, t6: f"http://127.0.0.1:{t}?@127.0.0.1:{a}/fhir",
    "CRLF header injection": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir\r\nHost: 127.0.0.1:{t}",
    # the allowed origin, outside the allowed path
    "dot-dot out of the base": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir/../admin",
    "dot-dot to the root": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir/..",
    "dot then dot-dot": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir/./../admin",
    "encoded dot-dot": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir/%2e%2e/admin",
    "encoded dot-dot, upper case": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir/%2E%2E/admin",
    "encoded slash": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir%2f..%2fadmin",
    "dot-dot with encoded slash": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir/..%2fadmin",
    "encoded backslash": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir%5c..%5cadmin",
    "path prefix /fhirX": lambda a, t, t6: f"http://127.0.0.1:{a}/fhirX",
    "path prefix /fhir-admin": lambda a, t, t6: f"http://127.0.0.1:{a}/fhir-admin",
    "shorter path /fhi": lambda a, t, t6: f"http://127.0.0.1:{a}/fhi",
    "server root": lambda a, t, t6: f"http://127.0.0.1:{a}/",
    "no path": lambda a, t, t6: f"http://127.0.0.1:{a}",
}


@pytest.mark.parametrize("disguise", DISGUISES.values(), ids=DISGUISES.keys())
def test_disguised_fhir_server_is_403_before_any_traffic(service, allowed, targets, disguise):
    seen = len(allowed.requests)
    url = disguise(allowed.port, targets.v4.port, targets.v6.port)
    response = service.hook("facet-order-sign", fetching_body(url))
    assert response.status_code == 403 and "allow-list" in diagnostics(response)
    assert (targets.v4.connections, targets.v6.connections) == (0, 0)
    assert len(allowed.requests) == seen


def test_the_allowed_server_itself_is_fetched_with_the_fhir_token(service, clean_allowed):
    """The control for the cases above: the same body with the listed URL does reach the stub."""
    seen = len(clean_allowed.requests)
    response = service.hook("facet-order-sign", fetching_body(clean_allowed.base_url))
    assert response.status_code == 200
    fetched = clean_allowed.requests[seen:]
    assert fetched and {r.headers.get("Authorization") for r in fetched} == {f"Bearer {FHIR_TOKEN}"}


@pytest.mark.parametrize("fault", [
    lambda other: Fault.redirect(f"{other.base_url}/Condition"),
    lambda other: Fault.next_link(f"{other.base_url}/Condition?_page=2"),
], ids=["302 redirect", "next link"])
def test_allowed_server_cannot_send_us_or_the_token_elsewhere(service, clean_allowed, fault):
    with StubFhirServer() as other:
        clean_allowed.inject("", fault(other))
        seen = len(clean_allowed.requests)
        response = service.hook("facet-order-sign", fetching_body(clean_allowed.base_url))
        assert response.status_code == 200
        assert_indeterminate_for_technical_reasons(response.json())
        assert other.connections == 0
        fetched = clean_allowed.requests[seen:]
        assert fetched and {r.headers.get("Authorization") for r in fetched} == {f"Bearer {FHIR_TOKEN}"}
    assert FHIR_TOKEN not in service.log() and FHIR_TOKEN not in json.dumps(response.json())


@pytest.mark.parametrize("escape", ["%2e%2e/admin/Condition", ".%2E/admin/Condition", "%2E%2e%2fadmin/Condition"])
def test_escaped_next_link_cannot_leave_the_allowed_path_on_the_same_origin(service, clean_allowed, escape):
    # Percent-encoded dot segments look like a path under the base, but a server resolves them above it.
    clean_allowed.inject("", Fault.next_link(f"{clean_allowed.base_url}/{escape}"))
    seen = len(clean_allowed.requests)
    response = service.hook("facet-order-sign", fetching_body(clean_allowed.base_url))
    assert response.status_code == 200
    assert_indeterminate_for_technical_reasons(response.json())
    fetched = clean_allowed.requests[seen:]
    # only plain searches under the base: no dot segments (requests decodes %2e but does not resolve them)
    assert fetched and all(r.path.startswith(f"{clean_allowed.base_path}/") and "%" not in r.path
                           and not {".", ".."} & set(r.path.split("/")) for r in fetched)


@pytest.mark.parametrize("spelling", ["{}/", "  {} ", "{}/\n"], ids=["trailing slash", "spaces", "slash+newline"])
def test_the_allowed_server_spelled_loosely_is_checked_and_fetched_as_one_url(service, clean_allowed, spelling):
    """Issue 9: the allow-list, the fetches and the cache key all use the one normalised fhirServer. Before, the
    allow-list saw a stripped URL and the fetch the URL as sent (surrounding whitespace was a 403)."""
    seen = len(clean_allowed.requests)
    response = service.hook("facet-order-sign", fetching_body(spelling.format(clean_allowed.base_url)))
    assert response.status_code == 200
    fetched = clean_allowed.requests[seen:]
    assert fetched and all(r.path.startswith(f"{clean_allowed.base_path}/") and "//" not in r.path for r in fetched)
