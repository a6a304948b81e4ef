"""Trust as real clients send it: the CDS Hooks sandbox always puts a `jku` beside its `kid`, and the service
(CDS_AUTH=on, client entry shaped like deploy/clients.example.json's sandbox entry: inline keys, no jwks_url)
must verify with the pinned keys whatever that `jku` says, and fetch nothing from it.

The sandbox's private key is public in its repository but not ours to ship, so this suite signs with a key of
its own, pinned inline under the sandbox's iss; header and claims are exactly as sandbox.md §7 shows.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jwt_factory import KeyPair
from tests.support.response_checks import check_cds_response
from tests.support.security_harness import (
    FHIR_TOKEN,
    SIGN_ID,
    SIGN_PATH,
    Listener,
    diagnostics,
    fetching_body,
    start_service_trusting,
)
from tests.support.service_process import ServiceProcess
from tests.support.stub_fhir import StubFhirServer

REPO = Path(__file__).resolve().parents[3]
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def sandbox_token(key: KeyPair, aud: str, *, jku: str = SANDBOX_JKU, iss: str = SANDBOX_ISS) -> str:
    """What jwt-generator.js signs: header {alg, typ, kid, jku}; payload {iss, aud, exp: iat+300, iat, jti}."""
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return key.sign(claims, headers={"alg": "ES384", "typ": "JWT", "kid": key.kid, "jku": jku})


def example_shaped_entry(key: KeyPair, fhir_servers: list[str]) -> dict:
    """deploy/clients.example.json's sandbox entry with our own key in place of the sandbox's."""
    shipped = json.loads((REPO / "deploy" / "clients.example.json").read_text())["clients"][0]
    assert set(shipped) == {"iss", "jwks", "fhir_servers"} and shipped["iss"] == SANDBOX_ISS  # still that shape
    jwk = {**shipped["jwks"]["keys"][0], **{name: value for name, value in key.public_jwk().items()
                                             if name in ("kid", "x", "y")}}
    return {"iss": SANDBOX_ISS, "jwks": {"keys": [jwk]}, "fhir_servers": fhir_servers}


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair.generate("ES384")


@pytest.fixture(scope="module")
def fhir() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        yield server


@pytest.fixture(scope="module")
def service(tmp_path_factory, key: KeyPair, fhir: StubFhirServer) -> Iterator[ServiceProcess]:
    svc = start_service_trusting(tmp_path_factory.mktemp("sandbox-trust"), [example_shaped_entry(key, [fhir.base_url])],
                                 key=key, iss=SANDBOX_ISS, extra_env={"CDS_AUTH": "on"})
    yield svc
    svc.stop()


def _call(service: ServiceProcess, body: dict, token: str):
    return service.hook(SIGN_ID, body, auth=False, headers={"Authorization": f"Bearer {token}"})


def test_sandbox_signed_hook_call_is_answered_with_the_pinned_key(service, fhir, key):
    seen = len(fhir.requests)
    response = _call(service, fetching_body(fhir.base_url), sandbox_token(key, f"{service.base_url}{SIGN_PATH}"))
    assert response.status_code == 200, response.text
    assert check_cds_response(response.json(), hook="order-sign") == []
    fetched = fhir.requests[seen:]
    assert fetched and {r.headers.get("Authorization") for r in fetched} == {f"Bearer {FHIR_TOKEN}"}


def test_sandbox_signed_feedback_is_stored(service, key):
    path = f"{SIGN_PATH}/feedback"
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "acceptedSuggestions": [{"id": "s"}],
            "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    token = sandbox_token(key, f"{service.base_url}{path}")
    response = service.post(path, {"feedback": [item]}, auth=False, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1


def test_jku_is_never_contacted(service, fhir, key):
    with Listener() as jku_host:
        token = sandbox_token(key, f"{service.base_url}{SIGN_PATH}", jku=f"http://{jku_host.authority}/jwks.json")
        assert _call(service, fetching_body(fhir.base_url), token).status_code == 200
        assert jku_host.connections == 0


def test_a_key_published_at_the_jku_but_not_pinned_is_refused(service, fhir, key):
    stranger = KeyPair.generate("ES384", kid=key.kid)  # same kid, not the pinned key
    seen = len(fhir.requests)
    response = _call(service, fetching_body(fhir.base_url), sandbox_token(stranger, f"{service.base_url}{SIGN_PATH}"))
    assert response.status_code == 401
    diagnostics(response)
    assert len(fhir.requests) == seen
