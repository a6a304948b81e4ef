"""Cloud-metadata and private-network `fhirServer`s are refused by the allow-list check, before any network call.

These addresses must never receive test traffic, so the service runs in-process (Flask test client) with the
network layer replaced by a tripwire: any attempt to resolve a name, open a socket or send a request is
recorded and fails. A control case shows the tripwire does see the service's fetches when one is allowed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.in_process import in_process_client
from tests.support.jwt_factory import KeyPair, make_claims
from tests.support.security_harness import (
    SIGN_PATH,
    Tripwire,
    assert_indeterminate_for_technical_reasons,
    diagnostics,
    fetching_body,
)

PUBLIC_BASE_URL = "https://cds.test.example"
ISS = "https://ehr.test.example"
PRIVATE_FHIR_SERVER = "http://10.0.0.5/fhir"

INTERNAL_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
    "http://169.254.169.254.nip.io/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    PRIVATE_FHIR_SERVER,
    "http://192.168.1.10/fhir",
    "http://172.16.0.1/fhir",
    "http://[fd00::1]/fhir",
    "http://[fe80::1]/fhir",
    "http://0.0.0.0/fhir",
    "http://[::]/fhir",
]


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Tripwire:
    wire = Tripwire()
    wire.install(monkeypatch)
    return wire


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair.generate("ES384")


@pytest.fixture(scope="module")
def authenticated(tmp_path_factory, key: KeyPair) -> FlaskClient:
    """CDS_AUTH=on; the one trusted client may name a loopback FHIR server only."""
    tmp = tmp_path_factory.mktemp("ssrf-auth-on")
    clients = tmp / "clients.json"
    clients.write_text(json.dumps({"clients": [
        {"iss": ISS, "jwks": key.jwks(), "fhir_servers": ["http://127.0.0.1:9/fhir"]}]}))
    return in_process_client(tmp, CDS_CLIENTS_FILE=str(clients), CDS_PUBLIC_BASE_URL=PUBLIC_BASE_URL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> FlaskClient:
    """CDS_AUTH=off without CDS_DEV_FHIR_SERVERS: loopback FHIR servers only."""
    return in_process_client(tmp_path_factory.mktemp("ssrf-auth-off"), CDS_AUTH="off")


def _post(client: FlaskClient, body: dict, authorization: str | None = None):
    headers = {"Authorization": authorization} if authorization else {}
    return client.post(SIGN_PATH, data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_address_is_refused_for_an_authenticatedin_process_client(authenticated, key, tripwire, url):
    token = key.sign(make_claims(f"{PUBLIC_BASE_URL}{SIGN_PATH}", ISS))
    response = _post(authenticated, fetching_body(url), f"Bearer {token}")
    assert response.status_code == 403 and "allow-list" in diagnostics(response)
    assert tripwire.attempts == []


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_address_is_refused_in_auth_off_demo_mode(demo, tripwire, url):
    response = _post(demo, fetching_body(url))
    assert response.status_code == 403 and "allow-list" in diagnostics(response)
    assert tripwire.attempts == []


def test_tripwire_sees_the_fetches_of_an_allowed_server(tmp_path: Path, tripwire: Tripwire):
    """Control: with the private address on the dev list the service does try it, and the tripwire catches that."""
    client = in_process_client(tmp_path, CDS_AUTH="off", CDS_DEV_FHIR_SERVERS=PRIVATE_FHIR_SERVER)
    response = _post(client, fetching_body(PRIVATE_FHIR_SERVER))
    assert response.status_code == 200
    assert_indeterminate_for_technical_reasons(response.get_json())
    assert tripwire.attempts and all("10.0.0.5" in attempt for attempt in tripwire.attempts)
