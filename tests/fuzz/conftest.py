"""In-process apps for fuzzing: the Flask test client, no sockets, and a tripwire on the network layer."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from tests.fuzz.fuzz_support import ISS, PUBLIC_BASE_URL
from tests.support.in_process import in_process_client
from tests.support.jwt_factory import KeyPair
from tests.support.security_harness import Tripwire


@pytest.fixture(scope="module")
def no_network() -> Iterator[Tripwire]:
    """No fuzzed request may make the service touch the network (it has nothing it may fetch from)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        tripwire = Tripwire()
        tripwire.install(monkeypatch)
        yield tripwire


@pytest.fixture(scope="module")
def demo(tmp_path_factory, no_network: Tripwire) -> FlaskClient:
    """CDS_AUTH=off, so bodies reach the parser; the only allowed FHIR server is a port nobody listens on."""
    return in_process_client(tmp_path_factory.mktemp("fuzz-demo"), CDS_AUTH="off", CDS_DEV_FHIR_SERVERS="http://127.0.0.1:9/fhir")


@pytest.fixture(scope="module")
def signing_key() -> KeyPair:
    return KeyPair.generate("ES384")


@pytest.fixture(scope="module")
def secured(tmp_path_factory, signing_key: KeyPair, no_network: Tripwire) -> FlaskClient:
    """CDS_AUTH=on with one trusted client."""
    tmp = tmp_path_factory.mktemp("fuzz-secured")
    clients = tmp / "clients.json"
    clients.write_text(json.dumps({"clients": [{"iss": ISS, "jwks": signing_key.jwks(), "fhir_servers": []}]}))
    return in_process_client(tmp, CDS_CLIENTS_FILE=str(clients), CDS_PUBLIC_BASE_URL=PUBLIC_BASE_URL)
