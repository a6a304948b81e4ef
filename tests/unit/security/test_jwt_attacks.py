"""verify_client_jwt against forged, stale, misdirected and malformed tokens, and the tokens it must accept.

Remote keys come from a real http.server on 127.0.0.1, so the fetch limits and the refetch policy are
tested over HTTP, and every attack also checks how many times that server was asked for the JWKS.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.security import (
    AuthError,
    ClientRegistry,
    InMemoryReplayStore,
    JwksFetchError,
    JwksProvider,
    SqliteReplayStore,
    fetch_jwks_document,
    verify_client_jwt,
)
from tests.support.jwks_server import JWKS_PATH, JwksServer, Route
from tests.support.jwt_factory import KeyPair, b64url, compact, encode_segment, hs256_token, make_claims

AUD = "http://127.0.0.1:8092/cds-services/facet-order-sign"
INLINE_ISS = "https://ehr.example.org"
REMOTE_ISS = "https://remote-ehr.example.org"


@pytest.fixture
def jwks_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never send loopback traffic through a proxy
    server = JwksServer()
    yield server
    server.close()


# --- keys, clients and the verifier ---------------------------------------------------------------------


ES_KID, RS_KID = "inline-es", "inline-rs"


@pytest.fixture(scope="module")
def es_key() -> KeyPair:
    return KeyPair.generate("ES384", kid=ES_KID)


@pytest.fixture(scope="module")
def rs_key() -> KeyPair:
    return KeyPair.generate("RS384", kid=RS_KID)


@pytest.fixture(scope="module")
def remote_key() -> KeyPair:
    return KeyPair.generate("ES384")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    registry: ClientRegistry
    jwks: JwksProvider
    replay: InMemoryReplayStore
    server: JwksServer
    clock: FakeClock

    def verify(self, authorization: str | None, **options: object):
        return verify_client_jwt(
            authorization, expected_aud=AUD, registry=self.registry, jwks=self.jwks, replay=self.replay, **options
        )


@pytest.fixture
def harness(jwks_server: JwksServer, es_key: KeyPair, rs_key: KeyPair, remote_key: KeyPair) -> Harness:
    jwks_server.serve_json(remote_key.jwks())
    registry = ClientRegistry.from_document(
        {
            "clients": [
                {"iss": INLINE_ISS, "jwks": es_key.jwks(rs_key)},
                {"iss": REMOTE_ISS, "jwks_url": jwks_server.url()},
            ]
        }
    )
    clock = FakeClock()
    # The real fetcher over loopback HTTP, injected with a shorter timeout than production's.
    provider = JwksProvider(fetch=partial(fetch_jwks_document, timeout_s=2.0), clock=clock)
    return Harness(registry, provider, InMemoryReplayStore(), jwks_server, clock)


def bearer(token: str) -> str:
    return f"Bearer {token}"


# --- accepted ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["es_key", "rs_key"])
def test_valid_inline_token_is_accepted(harness: Harness, key_name: str, request: pytest.FixtureRequest) -> None:
    key: KeyPair = request.getfixturevalue(key_name)
    claims = make_claims(AUD, INLINE_ISS)
    verified = harness.verify(bearer(key.sign(claims)))
    assert verified.client.iss == INLINE_ISS
    assert verified.jti == claims["jti"]
    assert verified.claims == claims
    assert harness.server.hits == []  # inline keys never cause traffic


def test_one_element_aud_array_and_lowercase_scheme_are_accepted(harness: Harness, es_key: KeyPair) -> None:
    token = es_key.sign(make_claims(AUD, INLINE_ISS, aud=[AUD]))
    assert harness.verify(f"bearer {token}").client.iss == INLINE_ISS


def test_clock_skew_within_leeway_is_accepted(harness: Harness, es_key: KeyPair) -> None:
    now = time.time()
    just_expired = make_claims(AUD, INLINE_ISS, now=now - 330)  # exp = now - 30
    from_the_future = make_claims(AUD, INLINE_ISS, now=now + 30)
    harness.verify(bearer(es_key.sign(just_expired)), now=now)
    harness.verify(bearer(es_key.sign(from_the_future)), now=now)


def test_key_from_jwks_url_is_fetched_once_and_cached(harness: Harness, remote_key: KeyPair) -> None:
    for _ in range(3):
        harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 1


def test_sandbox_shaped_token_with_configured_jku_is_accepted(harness: Harness, remote_key: KeyPair) -> None:
    token = remote_key.sign(make_claims(AUD, REMOTE_ISS), headers={"jku": harness.server.url()})
    assert harness.verify(bearer(token)).client.iss == REMOTE_ISS


def test_inline_keys_verify_whatever_jku_says_and_nothing_is_fetched(harness: Harness, es_key: KeyPair) -> None:
    # As the CDS Hooks sandbox signs: a jku naming its public JWKS, beside the kid of a key pinned inline.
    attacker_url = harness.server.url("/attacker-jwks.json")
    token = es_key.sign(make_claims(AUD, INLINE_ISS), headers={"jku": attacker_url})
    assert harness.verify(bearer(token)).client.iss == INLINE_ISS
    assert harness.server.hits == []


def test_foreign_jku_never_fetches_the_configured_jwks_url_either(jwks_server: JwksServer, es_key: KeyPair) -> None:
    # A client with both inline keys and a jwks_url: a token whose jku is elsewhere may use the pinned keys
    # only, so an unknown kid does not make the service fetch anything.
    jwks_server.serve_json(KeyPair.generate("ES384").jwks())
    registry = ClientRegistry.from_document(
        {"clients": [{"iss": INLINE_ISS, "jwks": es_key.jwks(), "jwks_url": jwks_server.url()}]}
    )
    provider = JwksProvider(fetch=partial(fetch_jwks_document, timeout_s=2.0))
    stranger = KeyPair.generate("ES384")
    token = stranger.sign(make_claims(AUD, INLINE_ISS), headers={"jku": "https://elsewhere.example/jwks.json"})
    with pytest.raises(AuthError, match="no key with kid"):
        verify_client_jwt(bearer(token), expected_aud=AUD, registry=registry, jwks=provider,
                          replay=InMemoryReplayStore())
    assert jwks_server.hits == []
    # The same client's own key still verifies with that foreign jku, and with the configured one.
    for jku in ("https://elsewhere.example/jwks.json", jwks_server.url()):
        ok = es_key.sign(make_claims(AUD, INLINE_ISS), headers={"jku": jku})
        verify_client_jwt(bearer(ok), expected_aud=AUD, registry=registry, jwks=provider,
                          replay=InMemoryReplayStore())
    assert jwks_server.hits == []


def test_key_rotation_triggers_exactly_one_refetch(harness: Harness, remote_key: KeyPair) -> None:
    harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 1

    rotated = KeyPair.generate("ES384")
    harness.server.serve_json(rotated.jwks(remote_key))
    harness.verify(bearer(rotated.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 2
    harness.verify(bearer(rotated.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 2


def test_random_kid_flood_is_rate_limited(harness: Harness, remote_key: KeyPair) -> None:
    harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    for _ in range(50):
        token = remote_key.sign(make_claims(AUD, REMOTE_ISS), headers={"kid": str(uuid.uuid4())})
        with pytest.raises(AuthError):
            harness.verify(bearer(token))
    assert harness.server.fetches() == 2  # the first fill, then one refetch per cooldown

    harness.clock.now += 61  # cooldown over: one more refetch is allowed
    with pytest.raises(AuthError):
        harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS), headers={"kid": "x"})))
    assert harness.server.fetches() == 3


def test_cached_keys_are_refetched_after_ttl(harness: Harness, remote_key: KeyPair) -> None:
    harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    harness.clock.now += 3600
    harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 2


def test_stale_keys_are_kept_while_the_jwks_url_fails(harness: Harness, remote_key: KeyPair) -> None:
    harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    harness.server.routes[JWKS_PATH] = Route(status=500, body=b"oops")
    harness.clock.now += 3600
    for _ in range(5):
        harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 2  # one failed attempt, then the failure cooldown


def test_replay_store_in_sqlite_refuses_second_use(harness: Harness, es_key: KeyPair, tmp_path) -> None:
    harness.replay = SqliteReplayStore(tmp_path / "replay.db")  # type: ignore[assignment]
    token = bearer(es_key.sign(make_claims(AUD, INLINE_ISS)))
    harness.verify(token)
    with pytest.raises(AuthError, match="already used"):
        harness.verify(token)


# --- refused ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """Who the attacker pretends to be: a registered iss and the real key registered for it."""

    iss: str
    key: KeyPair
    attacker_jwks_url: str  # a JWKS the attacker controls (served by the test server, must stay unfetched)


Attack = Callable[[Party], "str | None"]


def _token(party: Party, claims: dict | None = None, **headers: object) -> str:
    """A correctly signed token (before any tampering) for this party, without the Bearer prefix."""
    return party.key.sign(claims if claims is not None else make_claims(AUD, party.iss), headers=headers)


def _with_header(party: Party, **headers: object) -> str:
    return bearer(_token(party, **headers))


def _with_claims(party: Party, **overrides: object) -> str:
    return bearer(_token(party, make_claims(AUD, party.iss, **overrides)))


def _unsigned(party: Party, alg: str) -> str:
    return bearer(compact({"alg": alg, "kid": party.key.kid}, make_claims(AUD, party.iss)))


def _hmac_signed(party: Party, secret: bytes | None = None) -> str:
    secret = party.key.public_pem() if secret is None else secret
    return bearer(hs256_token(make_claims(AUD, party.iss), secret, {"kid": party.key.kid}))


def _tampered(party: Party) -> str:
    header, _, signature = _token(party).split(".")
    forged = encode_segment(make_claims(AUD, party.iss, lifetime_s=3000))
    return bearer(f"{header}.{forged}.{signature}")


def _signed_by_stranger(party: Party, **headers: object) -> str:
    stranger = KeyPair.generate("ES384", kid=party.key.kid)  # right kid, wrong key
    return bearer(stranger.sign(make_claims(AUD, party.iss), headers=headers))


def _duplicate_alg_member(party: Party) -> str:
    header = f'{{"alg":"ES384","kid":"{party.key.kid}","alg":"ES384"}}'
    signing_input = f"{b64url(header.encode())}.{encode_segment(make_claims(AUD, party.iss))}"
    return bearer(f"{signing_input}.{b64url(party.key.signature(signing_input.encode()))}")


def _ago(seconds: int) -> int:
    return int(time.time()) - seconds


@dataclass(frozen=True)
class Case:
    id: str
    attack: Attack
    reason: str  # a fragment of AuthError.reason: each attack must be refused for its own reason
    remote_fetches: int = 0  # JWKS fetches expected for the remote client on a cold cache


ATTACKS = [
    Case("alg-none", lambda p: _unsigned(p, "none"), "alg 'none'"),
    Case("alg-none-capitalised", lambda p: _unsigned(p, "None"), "alg 'None'"),
    Case("hs256-public-key-pem", _hmac_signed, "alg 'HS256'"),
    Case("hs256-empty-key", lambda p: _hmac_signed(p, b""), "alg 'HS256'"),
    Case("alg-es256", lambda p: _with_header(p, alg="ES256"), "alg 'ES256'"),
    Case("alg-rs256", lambda p: _with_header(p, alg="RS256"), "alg 'RS256'"),
    Case("alg-ps384", lambda p: _with_header(p, alg="PS384"), "alg 'PS384'"),
    Case("alg-not-a-string", lambda p: _with_header(p, alg=["ES384"]), "not allowed"),
    Case("wrong-kid", lambda p: _with_header(p, kid="not-" + p.key.kid), "no key with kid", remote_fetches=1),
    Case("absent-kid", lambda p: _with_header(p, kid=None), "kid missing"),
    Case("empty-kid", lambda p: _with_header(p, kid=""), "kid missing"),
    Case("kid-not-a-string", lambda p: _with_header(p, kid=7), "kid missing"),
    Case("typ-not-jwt", lambda p: _with_header(p, typ="at+jwt"), "typ"),
    Case("crit-header", lambda p: _with_header(p, crit=["exp"], exp=1), "crit"),
    Case("crit-empty", lambda p: _with_header(p, crit=[]), "crit"),
    Case("jku-elsewhere-signed-by-attacker", lambda p: _signed_by_stranger(p, jku=p.attacker_jwks_url),
         "signature|jku"),
    Case("duplicate-header-member", _duplicate_alg_member, "header is not"),
    Case("expired", lambda p: _with_claims(p, iat=_ago(700), exp=_ago(400)), "expired"),
    Case("iat-far-future", lambda p: _with_claims(p, iat=_ago(-3600), exp=_ago(-3900)), "iat in the future"),
    Case("nbf-future", lambda p: _with_claims(p, nbf=_ago(-600)), "nbf in the future"),
    Case("lifetime-too-long", lambda p: _with_claims(p, exp=_ago(-7200)), "lifetime"),
    Case("exp-before-iat", lambda p: _with_claims(p, iat=_ago(0), exp=_ago(1)), "lifetime"),
    Case("exp-a-string", lambda p: _with_claims(p, exp=str(_ago(-300))), "exp is not a number"),
    Case("exp-boolean", lambda p: _with_claims(p, exp=True), "exp is not a number"),
    Case("exp-nan", lambda p: _with_claims(p, exp=float("nan")), "payload is not"),
    Case("wrong-aud", lambda p: _with_claims(p, aud="http://127.0.0.1:8092/cds-services/other"), "aud"),
    Case("aud-trailing-slash", lambda p: _with_claims(p, aud=AUD + "/"), "aud"),
    Case("aud-array-two-entries", lambda p: _with_claims(p, aud=[AUD, "https://evil.example"]), "aud"),
    Case("aud-empty-array", lambda p: _with_claims(p, aud=[]), "aud"),
    Case("unknown-iss", lambda p: _with_claims(p, iss="https://unknown.example"), "unknown iss"),
    Case("iss-not-a-string", lambda p: _with_claims(p, iss=[p.iss]), "iss is not a string"),
    Case("jti-empty", lambda p: _with_claims(p, jti=""), "jti"),
    Case("jti-too-long", lambda p: _with_claims(p, jti="j" * 300), "jti"),
    Case("oversized-token", lambda p: _with_claims(p, padding="x" * 9000), "longer than 8192"),
    Case("tampered-payload", _tampered, "signature", remote_fetches=1),
    Case("signed-by-another-key", _signed_by_stranger, "signature", remote_fetches=1),
    Case("signature-stripped", lambda p: bearer(_token(p).rsplit(".", 1)[0] + "."), "signature", remote_fetches=1),
    *[
        Case(f"missing-{name}", lambda p, name=name: _with_claims(p, **{name: None}), f"missing claim(s) ['{name}']")
        for name in ("iss", "aud", "exp", "iat", "jti")
    ],
    Case("two-parts", lambda p: bearer(_token(p).rsplit(".", 1)[0]), "not a compact JWS"),
    Case("four-parts", lambda p: bearer(_token(p) + ".AAAA"), "not a compact JWS"),
    Case("jwe-five-parts", lambda p: bearer("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA"), "compact JWS"),
    Case("bad-base64", lambda p: bearer("e!J.eyJ9.AAAA"), "not a compact JWS"),
    Case("base64-impossible-length", lambda p: bearer("eyJhb.eyJ9.AAAA"), "header is not valid base64url"),
    Case("header-not-json", lambda p: bearer(f"{b64url(b'not json')}.{encode_segment({})}.AAAA"), "header is not"),
    Case("header-json-array", lambda p: bearer(compact(["ES384"], make_claims(AUD, p.iss), b"x")), "JSON object"),
    Case("header-not-utf8", lambda p: bearer(f"{b64url(bytes([0xFF]))}.{encode_segment({})}.AAAA"), "header is not"),
    Case("payload-json-string", lambda p: bearer(compact({"alg": "ES384", "kid": "k"}, "claims", b"x")), "JSON object"),
    Case("no-header", lambda p: None, "no Authorization header"),
    Case("empty-header", lambda p: "", "no Authorization header"),
    Case("basic-scheme", lambda p: "Basic " + _token(p), "not Bearer"),
    Case("no-scheme", lambda p: _token(p), "not Bearer"),
    Case("bearer-without-token", lambda p: "Bearer ", "empty bearer token"),
    Case("token-with-inner-space", lambda p: bearer(_token(p).replace(".", ". ", 1)), "not a compact JWS"),
]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in ATTACKS])
@pytest.mark.parametrize("client", ["inline", "remote"])
def test_attack_is_refused(harness: Harness, es_key: KeyPair, remote_key: KeyPair, client: str, case: Case) -> None:
    attacker_url = harness.server.url("/attacker-jwks.json")
    harness.server.serve_json(KeyPair.generate("ES384", kid=es_key.kid).jwks(), path="/attacker-jwks.json")
    iss, key = (INLINE_ISS, es_key) if client == "inline" else (REMOTE_ISS, remote_key)
    party = Party(iss, key, attacker_url)

    with pytest.raises(AuthError) as refused:
        harness.verify(case.attack(party))

    # A "|" separates the inline client's reason from the remote one's.
    inline_reason, _, remote_reason = case.reason.partition("|")
    assert (remote_reason if client == "remote" and remote_reason else inline_reason) in refused.value.reason
    assert harness.server.fetches() == (case.remote_fetches if client == "remote" else 0)
    assert harness.server.fetches("/attacker-jwks.json") == 0
    assert len(harness.replay) == 0  # nothing is remembered for a refused token


def test_replayed_jti_is_refused_after_first_use(harness: Harness, remote_key: KeyPair) -> None:
    claims = make_claims(AUD, REMOTE_ISS)
    token = bearer(remote_key.sign(claims))
    harness.verify(token)
    with pytest.raises(AuthError, match="already used"):
        harness.verify(token)
    # Re-signing with another iat does not make the jti new.
    with pytest.raises(AuthError, match="already used"):
        harness.verify(bearer(remote_key.sign({**claims, "iat": claims["iat"] + 1})))
    assert harness.server.fetches() == 1


def test_rsa_kid_cannot_verify_an_es384_token(harness: Harness, es_key: KeyPair, rs_key: KeyPair) -> None:
    # Key type decides: an ES384 header pointing at the RSA key is refused before any signature check.
    token = es_key.sign(make_claims(AUD, INLINE_ISS), headers={"kid": rs_key.kid})
    with pytest.raises(AuthError, match="cannot verify"):
        harness.verify(bearer(token))


def test_reason_never_contains_the_token(harness: Harness, es_key: KeyPair) -> None:
    token = es_key.sign(make_claims(AUD, "https://unknown.example\nforged log line"))
    with pytest.raises(AuthError) as refused:
        harness.verify(bearer(token))
    assert token not in refused.value.reason
    assert "\n" not in refused.value.reason


# --- the JWKS fetcher's limits ----------------------------------------------------------------------------


def test_fetcher_does_not_follow_redirects(jwks_server: JwksServer, remote_key: KeyPair) -> None:
    jwks_server.serve_json(remote_key.jwks(), path="/elsewhere.json")
    jwks_server.routes[JWKS_PATH] = Route(status=302, headers={"Location": jwks_server.url("/elsewhere.json")})
    with pytest.raises(JwksFetchError, match="302"):
        fetch_jwks_document(jwks_server.url())
    assert jwks_server.fetches("/elsewhere.json") == 0


def test_fetcher_refuses_oversized_documents(jwks_server: JwksServer) -> None:
    jwks_server.routes[JWKS_PATH] = Route(body=b'{"keys": [' + b" " * 70_000 + b"]}")
    with pytest.raises(JwksFetchError, match="more than"):
        fetch_jwks_document(jwks_server.url())


def test_fetcher_refuses_non_json(jwks_server: JwksServer) -> None:
    jwks_server.routes[JWKS_PATH] = Route(body=b"<html>")
    with pytest.raises(JwksFetchError, match="JSON"):
        fetch_jwks_document(jwks_server.url())


def test_fetcher_times_out(jwks_server: JwksServer) -> None:
    jwks_server.routes[JWKS_PATH] = Route(body=b"{}", delay_s=1.0)
    started = time.monotonic()
    with pytest.raises(JwksFetchError):
        fetch_jwks_document(jwks_server.url(), timeout_s=0.2)
    assert time.monotonic() - started < 0.9


def test_fetcher_ends_at_an_absolute_deadline_however_the_bytes_drip(jwks_server: JwksServer,
                                                                      remote_key: KeyPair) -> None:
    # A valid JWKS, one byte every 0.15 s: each read comes well within any read timeout, and the whole
    # document would arrive after half a minute. The fetch must give up at its deadline instead of returning it.
    document = json.dumps(remote_key.jwks()).encode()
    assert len(document) * 0.15 > 20
    jwks_server.routes[JWKS_PATH] = Route(body=document, drip_s=0.15)

    with pytest.raises(JwksFetchError, match="deadline"):
        fetch_jwks_document(jwks_server.url(), timeout_s=1.0)


def test_known_kid_is_not_held_up_by_a_refetch_in_progress(harness: Harness, remote_key: KeyPair) -> None:
    harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))  # keys cached
    remote = next(iter(harness.jwks._remote.values()))
    verified: list[str] = []
    token = bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS)))
    worker = threading.Thread(target=lambda: verified.append(harness.verify(token).client.iss), daemon=True)
    with remote.lock:  # as if another token's unknown kid were being refetched right now
        worker.start()
        worker.join(timeout=10)  # a generous bound, only so that a regression fails instead of hanging
        finished_while_locked = not worker.is_alive()
    worker.join()
    assert finished_while_locked and verified == [REMOTE_ISS]
    assert harness.server.fetches() == 1


def test_unusable_remote_jwks_refuses_tokens_without_refetch_storm(harness: Harness, remote_key: KeyPair) -> None:
    harness.server.routes[JWKS_PATH] = Route(body=b"[]")
    for _ in range(5):
        with pytest.raises(AuthError, match="no key"):
            harness.verify(bearer(remote_key.sign(make_claims(AUD, REMOTE_ISS))))
    assert harness.server.fetches() == 1


# --- property: nothing but AuthError ----------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
_headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["ES384", "RS384", "none", "HS256", "ES256"]) | _json_values,
        "kid": st.sampled_from([ES_KID, RS_KID, "unknown"]) | _json_values,
        "typ": st.sampled_from(["JWT", "jwt"]) | _json_values,
        "jku": _json_values,
        "crit": _json_values,
    },
)
_claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([INLINE_ISS, REMOTE_ISS]) | _json_values,
        "aud": st.sampled_from([AUD, [AUD]]) | _json_values,
        "exp": st.integers(0, 2**40) | _json_values,
        "iat": st.integers(0, 2**40) | _json_values,
        "nbf": st.integers(0, 2**40) | _json_values,
        "jti": st.uuids().map(str) | _json_values,
    },
)


@pytest.fixture(scope="module")
def offline_registry(es_key: KeyPair, rs_key: KeyPair) -> ClientRegistry:
    # Inline keys only, so generated tokens can never cause network traffic.
    return ClientRegistry.from_document({"clients": [{"iss": INLINE_ISS, "jwks": es_key.jwks(rs_key)}]})


def _verify_offline(registry: ClientRegistry, authorization: str | None) -> None:
    verify_client_jwt(
        authorization, expected_aud=AUD, registry=registry, jwks=JwksProvider(), replay=InMemoryReplayStore()
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authorization=st.binary(max_size=300).map(lambda raw: "Bearer " + raw.decode("latin-1")) | st.text())
def test_random_headers_only_raise_auth_error(offline_registry: ClientRegistry, authorization: str) -> None:
    with pytest.raises(AuthError):
        _verify_offline(offline_registry, authorization)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_headers, claims=_claims, signature=st.binary(max_size=600))
def test_random_json_tokens_only_raise_auth_error(
    offline_registry: ClientRegistry, header: dict, claims: dict, signature: bytes
) -> None:
    with pytest.raises(AuthError):
        _verify_offline(offline_registry, bearer(compact(header, claims, signature)))


@st.composite
def _mostly_valid_claims(draw: st.DrawFn) -> dict:
    """Valid claims for `now = iat`, with some of them replaced by random values."""
    iat = draw(st.integers(0, 2**33))
    claims = {"iss": INLINE_ISS, "aud": AUD, "iat": iat, "exp": iat + draw(st.integers(-10, 4000)), "jti": "j"}
    claims.update(draw(_claims))
    return claims


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_headers, claims=_mostly_valid_claims(), sign_with_rsa=st.booleans())
def test_validly_signed_random_tokens_pass_or_raise_auth_error(
    offline_registry: ClientRegistry, es_key: KeyPair, rs_key: KeyPair, header: dict, claims: dict, sign_with_rsa: bool
) -> None:
    key = rs_key if sign_with_rsa else es_key
    token = key.sign(claims, headers={"typ": None, **header})
    iat = claims.get("iat")
    try:
        verified = verify_client_jwt(
            bearer(token),
            expected_aud=AUD,
            registry=offline_registry,
            jwks=JwksProvider(),
            replay=InMemoryReplayStore(),
            now=iat if isinstance(iat, int) and not isinstance(iat, bool) else None,
        )
    except AuthError:
        return
    # Accepted only when every check held (the factory drops header members whose value is None).
    sent_header = {name: value for name, value in header.items() if value is not None}
    assert verified.claims == claims
    assert sent_header.get("alg", key.alg) == key.alg and sent_header.get("kid", key.kid) == key.kid
    assert "crit" not in sent_header
    assert 0 < claims["exp"] - claims["iat"] <= 3600
