"""CDS_CLIENTS_FILE loading (strict) and the fhirServer allow-lists (no SSRF)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.security import (
    ClientConfigError,
    ClientRegistry,
    FhirServerAllowlist,
    TrustedClient,
    dev_allowlist,
    fhir_server_allowed,
)
from tests.support.jwt_factory import KeyPair, b64url

# The CDS Hooks sandbox's published key (sandbox.md §7); its private half is public, so dev/test only.
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS_URL = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWK = {
    "kty": "EC",
    "crv": "P-384",
    "kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
    "use": "sig",
    "alg": "ES384",
    "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
    "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
}
FHIR = "http://127.0.0.1:18091/fhir"


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair.generate("ES384", kid="k1")


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


# --- loading ----------------------------------------------------------------------------------------------


def test_contract_example_file_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "clients": [
                {
                    "iss": SANDBOX_ISS,
                    "jwks_url": SANDBOX_JWKS_URL,
                    "jwks": {"keys": [SANDBOX_JWK]},
                    "fhir_servers": [FHIR],
                }
            ]
        },
    )
    registry = ClientRegistry.from_file(path)
    client = registry.get(SANDBOX_ISS)
    assert client is not None and SANDBOX_ISS in registry and len(registry) == 1
    assert client.jwks_url == SANDBOX_JWKS_URL
    assert client.fhir_servers == (FHIR,)
    assert registry.get("https://other.example") is None


def test_sandbox_public_key_loads_as_an_es384_key() -> None:
    client = TrustedClient(SANDBOX_ISS, jwks={"keys": [SANDBOX_JWK]})
    key = client.inline_keys["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"]
    assert key.supports("ES384")
    assert not key.supports("RS384") and not key.supports("ES256") and not key.supports("HS256")
    assert key.public_key.curve.name == "secp384r1"


def test_inline_only_and_url_only_clients_load(key: KeyPair) -> None:
    registry = ClientRegistry.from_document(
        {
            "clients": [
                {"iss": "https://a.example", "jwks": key.jwks()},
                {"iss": "https://b.example", "jwks_url": "https://b.example/jwks.json"},
                {"iss": "https://c.example", "jwks_url": "http://127.0.0.1:9999/jwks.json"},
            ]
        }
    )
    assert [client.iss for client in registry] == ["https://a.example", "https://b.example", "https://c.example"]
    assert registry.get("https://b.example").fhir_servers == ()  # no fhirServer allowed unless listed


def test_inline_jwks_with_one_unusable_key_is_refused(key: KeyPair) -> None:
    # Our own configuration: a key we would silently never use is a mistake worth stopping for.
    p256 = {"kty": "EC", "crv": "P-256", "kid": "p256", "x": SANDBOX_JWK["x"], "y": SANDBOX_JWK["y"]}
    with pytest.raises(ClientConfigError, match="kid 'p256': EC curve 'P-256' is not P-384"):
        TrustedClient("https://a.example", jwks={"keys": [key.public_jwk(), p256]})


def _client(**entry: Any) -> dict:
    return {"clients": [{"iss": "https://ehr.example", "jwks_url": "https://ehr.example/jwks", **entry}]}


def _without(name: str) -> dict:
    document = _client()
    del document["clients"][0][name]
    return document


SMALL_RSA = {"kty": "RSA", "kid": "r", "n": b64url((2**1023 + 1).to_bytes(128, "big")), "e": "AQAB"}
BAD_CONFIGS = [
    ("not-an-object", [], "JSON object"),
    ("unknown-top-level-key", {"clients": [], "extra": 1}, "unknown key"),
    ("no-clients-array", {}, '"clients" array'),
    ("clients-not-a-list", {"clients": {}}, '"clients" array'),
    ("client-not-an-object", {"clients": ["https://ehr.example"]}, r"clients\[0\] is not an object"),
    ("unknown-client-key", _client(tenant="t"), r"unknown key\(s\) \['tenant'\]"),
    ("typo-in-key", _client(jwks_uri="https://ehr.example/jwks"), "jwks_uri"),
    ("missing-iss", {"clients": [{"jwks_url": "https://ehr.example/jwks"}]}, "has no iss"),
    ("empty-iss", _client(iss=""), "iss must be a non-empty string"),
    ("iss-not-a-string", _client(iss=42), "iss must be"),
    ("no-jwks-nor-url", _without("jwks_url"), "needs jwks or jwks_url"),
    ("jwks-not-an-object", _client(jwks=[]), "jwks must be a JWK Set"),
    ("jwks-without-keys", _client(jwks={}), '"keys" array'),
    ("jwks-empty", _client(jwks={"keys": []}), "jwks has no keys"),
    ("jwks-key-without-kid", _client(jwks={"keys": [{k: v for k, v in SANDBOX_JWK.items() if k != "kid"}]}), "no kid"),
    ("jwks-duplicate-kid", _client(jwks={"keys": [SANDBOX_JWK, SANDBOX_JWK]}), "appears twice"),
    ("jwks-private-key", _client(jwks={"keys": [{**SANDBOX_JWK, "d": "AAAA"}]}), "private or symmetric"),
    ("jwks-symmetric-key", _client(jwks={"keys": [{"kty": "oct", "kid": "h", "k": ""}]}), "private or symmetric"),
    ("jwks-point-off-curve", _client(jwks={"keys": [{**SANDBOX_JWK, "y": SANDBOX_JWK["x"]}]}), "invalid EC point"),
    ("jwks-bad-base64", _client(jwks={"keys": [{**SANDBOX_JWK, "x": "not base64!"}]}), "not base64url"),
    ("jwks-encryption-key", _client(jwks={"keys": [{**SANDBOX_JWK, "use": "enc"}]}), "use != sig"),
    ("jwks-hmac-alg", _client(jwks={"keys": [{**SANDBOX_JWK, "alg": "HS256"}]}), "alg 'HS256'"),
    ("jwks-short-rsa", _client(jwks={"keys": [SMALL_RSA]}), "shorter than 2048"),
    ("jwks-url-not-a-string", _client(jwks_url=["https://x"]), "jwks_url must be a string"),
    ("jwks-url-file-scheme", _client(jwks_url="file:///etc/jwks.json"), "not a plain http"),
    ("jwks-url-plain-http", _client(jwks_url="http://ehr.example/jwks"), "must use https"),
    ("fhir-servers-not-a-list", _client(fhir_servers=FHIR), "fhir_servers must be a list"),
    ("fhir-servers-not-strings", _client(fhir_servers=[{"url": FHIR}]), "fhir_servers must be a list"),
    ("fhir-server-file-url", _client(fhir_servers=["file:///etc/passwd"]), "not a plain http"),
    ("fhir-server-userinfo", _client(fhir_servers=["http://user@127.0.0.1/fhir"]), "user info"),
    ("fhir-server-with-query", _client(fhir_servers=[FHIR + "?_format=json"]), "not a plain http"),
    ("fhir-server-relative", _client(fhir_servers=["/fhir"]), "not a plain http"),
    (
        "duplicate-iss",
        {"clients": [_client()["clients"][0], _client()["clients"][0]]},
        "configured twice",
    ),
]


@pytest.mark.parametrize("document, message", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_configuration_is_refused_with_a_clear_message(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(ClientConfigError, match=message):
        ClientRegistry.from_file(_write(tmp_path, document))


def test_invalid_json_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match="not valid JSON"):
        ClientRegistry.from_file(_write(tmp_path, "{clients: []"))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match="cannot read clients file"):
        ClientRegistry.from_file(tmp_path / "absent.json")


def test_error_names_the_client(tmp_path: Path) -> None:
    document = {"clients": [_client()["clients"][0], {"iss": "https://second.example"}]}
    with pytest.raises(ClientConfigError, match=r"clients\[1\]: client 'https://second.example'"):
        ClientRegistry.from_document(document)


# --- fhirServer allow-list --------------------------------------------------------------------------------

ALLOWED = [
    FHIR,
    FHIR + "/",
    FHIR + "/Patient/123",
    "http://127.0.0.1:18091/fhir/r4",
    "HTTP://127.0.0.1:18091/fhir",  # scheme and host are case-insensitive
]
REFUSED = [
    "http://127.0.0.1:18091/fhirX",
    "http://127.0.0.1:18091/fhir/../admin",
    "http://127.0.0.1:18091/fhir/./x",
    "http://127.0.0.1:18091/fhir/%2e%2e/admin",
    "http://127.0.0.1:18091/fhir%2F..%2Fadmin",
    "http://127.0.0.1:18091/fhir/%2E%2E/admin",
    "http://127.0.0.1:18091/fhir%5c..%5cadmin",
    "http://127.0.0.1:18091/fhir\\..\\admin",
    "http://127.0.0.1:18091/fhir//x",
    "http://127.0.0.1:18091/fhi",
    "http://127.0.0.1:18091/",
    "http://127.0.0.1:18091",
    "https://127.0.0.1:18091/fhir",  # another scheme
    "http://127.0.0.1:18092/fhir",  # another port
    "http://127.0.0.1/fhir",  # default port 80 is not 18091
    "http://127.0.0.2:18091/fhir",
    "http://localhost:18091/fhir",  # another host name, even if it resolves the same
    "http://a@127.0.0.1:18091/fhir",
    "http://127.0.0.1:18091@evil.example/fhir",
    "http://evil.example#@127.0.0.1:18091/fhir",
    "http://127.0.0.1:18091/fhir#fragment",
    "http://127.0.0.1:18091/fhir?x=1",
    "file:///etc/passwd",
    "gopher://127.0.0.1:18091/fhir",
    "ftp://127.0.0.1:18091/fhir",
    "//127.0.0.1:18091/fhir",
    "http:///fhir",
    "http://:18091/fhir",
    "http://127.0.0.1:notaport/fhir",
    "http://127.0.0.1:18091/fhir\n/x",
    "http://127.0.0.1:18091/fhir /x",
    "http://127.0.0.1:18091/ｆhir",
    "",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed_fhir_servers(url: str) -> None:
    client = TrustedClient("https://ehr.example", jwks_url="https://ehr.example/jwks", fhir_servers=(FHIR,))
    assert fhir_server_allowed(client, url)


@pytest.mark.parametrize("url", REFUSED)
def test_refused_fhir_servers(url: str) -> None:
    client = TrustedClient("https://ehr.example", jwks_url="https://ehr.example/jwks", fhir_servers=(FHIR,))
    assert not fhir_server_allowed(client, url)


def test_allowlist_with_trailing_slash_and_default_ports() -> None:
    allowlist = ["https://fhir.example.org:443/r4/"]
    assert fhir_server_allowed(allowlist, "https://fhir.example.org/r4")
    assert fhir_server_allowed(allowlist, "https://FHIR.example.org:443/r4/Patient")
    assert not fhir_server_allowed(allowlist, "https://fhir.example.org:8443/r4")
    assert not fhir_server_allowed(allowlist, "http://fhir.example.org/r4")
    assert fhir_server_allowed(["http://127.0.0.1/fhir"], "http://127.0.0.1:80/fhir")


def test_ipv6_base() -> None:
    assert fhir_server_allowed(["http://[::1]:8080/fhir"], "http://[::1]:8080/fhir/Patient")
    assert not fhir_server_allowed(["http://[::1]:8080/fhir"], "http://[::1]:8081/fhir")


def test_empty_allowlist_allows_nothing() -> None:
    assert not fhir_server_allowed([], FHIR)
    assert not fhir_server_allowed(FhirServerAllowlist(), FHIR)


def test_a_bare_string_is_not_taken_for_a_list() -> None:
    with pytest.raises(TypeError):
        fhir_server_allowed(FHIR, FHIR)  # type: ignore[arg-type]


# --- CDS_AUTH=off -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8091/fhir",
        "http://127.8.9.10/fhir",
        "http://localhost:18091/fhir",
        "http://LOCALHOST:18091/fhir",
        "http://[::1]:8080/fhir",
        "https://127.0.0.1/fhir",
    ],
)
def test_dev_default_allows_loopback_only(url: str) -> None:
    assert fhir_server_allowed(dev_allowlist(None), url)
    assert fhir_server_allowed(dev_allowlist(" , "), url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/fhir",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:8091/fhir",
        "http://127.1/fhir",  # shorthand a resolver would expand to 127.0.0.1: refused, not guessed at
        "http://2130706433/fhir",
        "http://[::ffff:127.0.0.1]/fhir",
        "http://localhost.evil.example/fhir",
        "http://127.0.0.1.nip.io/fhir",
        "http://a@127.0.0.1/fhir",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://127.0.0.1/fhir#x",
        "http://127.0.0.1/fhir/%2e%2e/",
    ],
)
def test_dev_default_refuses_everything_else(url: str) -> None:
    assert not fhir_server_allowed(dev_allowlist(None), url)


def test_dev_allowlist_from_csv_replaces_the_loopback_default() -> None:
    allowlist = dev_allowlist("http://127.0.0.1:18091/fhir, https://fhir.test.example/r4")
    assert fhir_server_allowed(allowlist, "http://127.0.0.1:18091/fhir/Patient")
    assert fhir_server_allowed(allowlist, "https://fhir.test.example/r4")
    assert not fhir_server_allowed(allowlist, "http://127.0.0.1:18092/fhir")


def test_dev_allowlist_with_a_bad_url_is_refused() -> None:
    with pytest.raises(ClientConfigError, match="not a plain http"):
        dev_allowlist("http://127.0.0.1/fhir,file:///etc")
