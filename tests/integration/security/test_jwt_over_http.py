"""The client JWT, attacked over real HTTP against a running service: every forged, stale, misdirected or
replayed token gets the same bare 401, and the service contacts nobody for it.

The service trusts three clients: one with an inline ES384 key, one with an inline RS384 key, and one whose
keys live at a `jwks_url` on loopback. Each attack is sent with a body that has no prefetch and names an
allow-listed stub FHIR server, so a token wrongly accepted would show up as requests on that stub; an
attacker-controlled JWKS (holding keys with the very kids the clients use) must never be asked either.
(`verify_client_jwt` has its own unit suite with every reason; this one checks what an EHR or attacker sees.)
"""
from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.jwks_server import JwksServer
from tests.support.jwt_factory import KeyPair, b64url, compact, encode_segment, hs256_token, make_claims
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

ES_ISS = "https://ehr-es384.test.example"
RS_ISS = "https://ehr-rs384.test.example"
REMOTE_ISS = "https://ehr-jwks-url.test.example"
ATTACKER_JWKS_PATH = "/attacker/jwks.json"


@dataclass(frozen=True)
class Keys:
    es: KeyPair
    rs: KeyPair
    remote: KeyPair
    # The attacker's JWKS publishes its own keys under the kids the real clients use.
    attacker_as_es: KeyPair
    attacker_as_remote: KeyPair


@pytest.fixture(scope="module")
def keys() -> Keys:
    es, rs, remote = KeyPair.generate("ES384"), KeyPair.generate("RS384"), KeyPair.generate("ES384")
    return Keys(es, rs, remote, KeyPair.generate("ES384", kid=es.kid), KeyPair.generate("ES384", kid=remote.kid))


@pytest.fixture(scope="module")
def fhir() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        yield server


@pytest.fixture(scope="module")
def jwks_host(keys: Keys) -> Iterator[JwksServer]:
    """Serves the jwks_url client's real JWKS, and (on another path) the attacker's."""
    server = JwksServer()
    server.serve_json(keys.remote.jwks())
    server.serve_json(keys.attacker_as_es.jwks(keys.attacker_as_remote), path=ATTACKER_JWKS_PATH)
    yield server
    server.close()


@pytest.fixture(scope="module")
def jku_listener() -> Iterator[Listener]:
    """A bare loopback port named as `jku`: it must not even see a connection."""
    with Listener() as listener:
        yield listener


@dataclass(frozen=True)
class Bystanders:
    """What a refused call must leave untouched: the FHIR server, and every JWKS location the attacker named."""

    fhir: StubFhirServer
    jwks_host: JwksServer
    jku_listener: Listener


@pytest.fixture(scope="module")
def bystanders(fhir: StubFhirServer, jwks_host: JwksServer, jku_listener: Listener) -> Bystanders:
    return Bystanders(fhir, jwks_host, jku_listener)


@pytest.fixture(scope="module")
def service(tmp_path_factory, keys: Keys, fhir: StubFhirServer, jwks_host: JwksServer) -> Iterator[ServiceProcess]:
    clients = [
        {"iss": ES_ISS, "jwks": keys.es.jwks(), "fhir_servers": [fhir.base_url]},
        {"iss": RS_ISS, "jwks": keys.rs.jwks(), "fhir_servers": [fhir.base_url]},
        {"iss": REMOTE_ISS, "jwks_url": jwks_host.url(), "fhir_servers": [fhir.base_url]},
    ]
    svc = start_service_trusting(tmp_path_factory.mktemp("jwt-service"), clients, key=keys.es, iss=ES_ISS)
    yield svc
    svc.stop()


def call_hook(service: ServiceProcess, body: dict, authorization: str | None):
    """POST `body` to order-sign with exactly this Authorization header (None: none at all)."""
    return service.hook(SIGN_ID, body, auth=False, headers={"Authorization": authorization} if authorization else None)


@pytest.fixture(scope="module")
def bare_401(service: ServiceProcess, fhir: StubFhirServer) -> dict:
    """The answer to a hook call with no Authorization header: every refusal must be exactly this."""
    response = call_hook(service, fetching_body(fhir.base_url), None)
    assert response.status_code == 401
    diagnostics(response)
    return response.json()


@dataclass(frozen=True)
class Forge:
    """Tokens for the running service: correct by default; each attack changes one thing."""

    base_url: str
    keys: Keys
    configured_jwks_url: str
    attacker_jwks_url: str
    listener_jwks_url: str

    @property
    def aud(self) -> str:
        return f"{self.base_url}{SIGN_PATH}"

    def claims(self, iss: str = ES_ISS, **overrides: object) -> dict:
        return make_claims(self.aud, iss, **overrides)

    def signed(self, claims: dict | None = None, *, key: KeyPair | None = None, **headers: object) -> str:
        return (key or self.keys.es).sign(claims if claims is not None else self.claims(), headers=headers)


@pytest.fixture(scope="module")
def forge(service: ServiceProcess, keys: Keys, jwks_host: JwksServer, jku_listener: Listener) -> Forge:
    return Forge(service.base_url, keys, jwks_host.url(), jwks_host.url(ATTACKER_JWKS_PATH),
                 f"http://{jku_listener.authority}/jwks.json")


def _now(offset_s: int = 0) -> int:
    return int(time.time()) + offset_s


def _alg_none_keeping_signature(f: Forge) -> str:
    _, payload, signature = f.signed().split(".")
    return f"{encode_segment({'alg': 'none', 'typ': 'JWT', 'kid': f.keys.es.kid})}.{payload}.{signature}"


def _tampered_payload(f: Forge) -> str:
    header, _, signature = f.signed().split(".")
    return f"{header}.{encode_segment(f.claims(lifetime_s=3000))}.{signature}"


def _tampered_signature(f: Forge) -> str:
    signing_input, signature = f.signed().rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{signing_input}.{b64url(bytes(raw))}"


ATTACKS: dict[str, Callable[[Forge], str]] = {
    "alg none, unsigned": lambda f: compact({"alg": "none", "typ": "JWT", "kid": f.keys.es.kid}, f.claims()),
    "alg none, real signature kept": _alg_none_keeping_signature,
    "HS256 keyed with the ES384 public key PEM": lambda f: hs256_token(
        f.claims(), f.keys.es.public_pem(), {"kid": f.keys.es.kid}),
    "HS256 keyed with the RS384 public key PEM": lambda f: hs256_token(
        f.claims(RS_ISS), f.keys.rs.public_pem(), {"kid": f.keys.rs.kid}),
    "HS256 with an empty key": lambda f: hs256_token(f.claims(), b"", {"kid": f.keys.es.kid}),
    "RS384 header on the EC key": lambda f: f.signed(alg="RS384"),
    "unknown kid": lambda f: f.signed(kid=f"not-{f.keys.es.kid}"),
    "absent kid": lambda f: f.signed(kid=None),
    "another client's kid and key": lambda f: f.signed(key=f.keys.rs),
    "expired": lambda f: f.signed(f.claims(iat=_now(-700), exp=_now(-400))),
    "not yet valid: iat in the future": lambda f: f.signed(f.claims(iat=_now(600), exp=_now(900))),
    "not yet valid: nbf in the future": lambda f: f.signed(f.claims(nbf=_now(600))),
    "lifetime longer than an hour": lambda f: f.signed(f.claims(exp=_now(7200))),
    "aud of another service": lambda f: f.signed(f.claims(aud=f"{f.base_url}/cds-services/facet-order-select")),
    "aud of the discovery URL": lambda f: f.signed(f.claims(aud=f"{f.base_url}/cds-services")),
    "aud with a trailing slash": lambda f: f.signed(f.claims(aud=f"{f.aud}/")),
    "aud of the feedback URL": lambda f: f.signed(f.claims(aud=f"{f.aud}/feedback")),
    "aud naming the host differently": lambda f: f.signed(f.claims(aud=f.aud.replace("127.0.0.1", "localhost"))),
    "aud array of two": lambda f: f.signed(f.claims(aud=[f.aud, "https://other-cds.test.example/cds-services/x"])),
    "unknown iss": lambda f: f.signed(f.claims("https://unknown-ehr.test.example")),
    "iss of another client": lambda f: f.signed(f.claims(RS_ISS)),
    "oversized token (> 8 KiB)": lambda f: f.signed(f.claims(padding="x" * 8300)),
    "tampered payload": _tampered_payload,
    "tampered signature": _tampered_signature,
    "signature stripped": lambda f: f.signed().rsplit(".", 1)[0] + ".",
    "jku elsewhere, inline-key client": lambda f: f.signed(key=f.keys.attacker_as_es, jku=f.attacker_jwks_url),
    "jku elsewhere, jwks_url client": lambda f: f.signed(
        f.claims(REMOTE_ISS), key=f.keys.attacker_as_remote, jku=f.attacker_jwks_url),
    "jku at a bare loopback listener": lambda f: f.signed(key=f.keys.attacker_as_es, jku=f.listener_jwks_url),
    "crit header": lambda f: f.signed(crit=["x-facet-binding"], **{"x-facet-binding": True}),
    **{
        f"missing {claim}": (lambda f, claim=claim: f.signed(f.claims(**{claim: None})))
        for claim in ("iss", "aud", "exp", "iat", "jti")
    },
}


def _assert_refused_and_nothing_fetched(service: ServiceProcess, bystanders: Bystanders, bare_401: dict,
                                        authorization: str) -> None:
    seen_by_fhir = len(bystanders.fhir.requests)
    response = call_hook(service, fetching_body(bystanders.fhir.base_url), authorization)
    assert response.status_code == 401
    assert response.json() == bare_401  # word for word the answer to no token: no hint which check failed
    assert len(bystanders.fhir.requests) == seen_by_fhir
    assert bystanders.jwks_host.fetches(ATTACKER_JWKS_PATH) == 0
    assert bystanders.jku_listener.connections == 0
    assert authorization.split(" ", 1)[-1] not in service.log()  # tokens are never logged


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_bad_token_gets_a_bare_401_and_no_fetch(service, bystanders, bare_401, forge, attack):
    _assert_refused_and_nothing_fetched(service, bystanders, bare_401, f"Bearer {attack(forge)}")


def test_replayed_token_gets_a_bare_401_and_no_fetch(service, fhir, bystanders, bare_401, forge):
    token = forge.signed()
    seen = len(fhir.requests)
    first = call_hook(service, fetching_body(fhir.base_url), f"Bearer {token}")
    assert first.status_code == 200 and len(fhir.requests) > seen
    _assert_refused_and_nothing_fetched(service, bystanders, bare_401, f"Bearer {token}")


def test_used_jti_is_refused_even_in_a_freshly_signed_token(service, fhir, bystanders, bare_401, forge):
    jti = str(uuid.uuid4())
    assert call_hook(service, fetching_body(fhir.base_url), f"Bearer {forge.signed(forge.claims(jti=jti))}").ok
    again = forge.signed(forge.claims(jti=jti, iat=_now(1)))
    _assert_refused_and_nothing_fetched(service, bystanders, bare_401, f"Bearer {again}")


ACCEPTED: dict[str, Callable[[Forge], str]] = {
    "ES384 client": lambda f: f.signed(),
    "RS384 client": lambda f: f.signed(f.claims(RS_ISS), key=f.keys.rs),
    "jwks_url client, no jku": lambda f: f.signed(f.claims(REMOTE_ISS), key=f.keys.remote),
    "jwks_url client, jku = its configured URL": lambda f: f.signed(
        f.claims(REMOTE_ISS), key=f.keys.remote, jku=f.configured_jwks_url),
    "aud as a one-element array": lambda f: f.signed(f.claims(aud=[f.aud])),
    "exp 30 s ago, within the clock skew": lambda f: f.signed(f.claims(iat=_now(-300), exp=_now(-30))),
}


@pytest.mark.parametrize("make_token", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_valid_token_is_accepted_and_the_fhir_token_goes_to_the_fhir_server(service, fhir, forge, make_token):
    seen = len(fhir.requests)
    response = call_hook(service, fetching_body(fhir.base_url), f"Bearer {make_token(forge)}")
    assert response.status_code == 200
    assert check_cds_response(response.json(), hook="order-sign") == []
    fetched = fhir.requests[seen:]
    assert fetched and {r.headers.get("Authorization") for r in fetched} == {f"Bearer {FHIR_TOKEN}"}
