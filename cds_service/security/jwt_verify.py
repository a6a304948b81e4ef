"""Verification of the JWT a CDS client sends with every call (CDS Hooks 2.0 "Trusting CDS Clients").

python-jose 3.5.0 checks signatures, but still accepts an unknown `crit` header and an empty HMAC key, and
lets the token's own `alg` pick the algorithm unless told otherwise (ecosystem.md §B). So we parse and check
the header ourselves first, pick the key by (iss, kid) and the single algorithm it allows, and do the claims.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jose import jwk as jose_jwk
from jose import jwt as jose_jwt
from jose.exceptions import JOSEError

from cds_service.errors import Unauthorized
from cds_service.security.clients import ClientRegistry, TrustedClient
from cds_service.security.jwks import JwksProvider, PublicJwk
from cds_service.security.replay import ReplayStore

# The algorithms CDS Hooks recommends; never "none" or an HMAC (HS*) algorithm, which a public key could forge.
ALLOWED_ALGORITHMS = frozenset({"ES384", "RS384"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
MAX_JTI_LENGTH = 256
MAX_KID_LENGTH = 256

# Three base64url segments; the signature may be empty only so that alg=none gets its own, clearer reason.
_COMPACT_JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
# python-jose checks nothing but the signature: every claim check below is ours, against our `now`.
_JOSE_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_aud": False,
    "verify_iat": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "verify_at_hash": False,
}


class AuthError(Unauthorized):
    """The caller is not authenticated. `reason` is for the server log only, never for the response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedClient:
    client: TrustedClient
    jti: str
    claims: Mapping[str, Any]


def verify_client_jwt(
    authorization_header: str | None,
    *,
    expected_aud: str,
    registry: ClientRegistry,
    jwks: JwksProvider,
    replay: ReplayStore,
    now: float | None = None,
    max_token_bytes: int = 8192,
    leeway_s: float = 60,
    max_lifetime_s: float = 3600,
) -> VerifiedClient:
    """Authenticate the caller from its `Authorization` header, or raise `AuthError`.

    Cheap checks on the unverified token come first, so that junk never triggers a JWKS fetch, a
    signature check or a replay-store write; the replay store is written only for a fully valid token.
    """
    now = time.time() if now is None else now
    token = _bearer_token(authorization_header, max_token_bytes)
    header, claims = _decode_unverified(token)
    alg, kid = _check_header(header)
    _check_claims(claims, expected_aud=expected_aud, now=now, leeway_s=leeway_s, max_lifetime_s=max_lifetime_s)
    client = registry.get(claims["iss"])
    if client is None:
        raise AuthError(f"unknown iss {_show(claims['iss'])}")
    # A `jku` is never fetched as such. Real clients (the CDS Hooks sandbox) always send one naming their
    # public JWKS, so a client whose keys are pinned inline verifies with those keys whatever `jku` says;
    # the configured `jwks_url` is consulted only when `jku` is absent or equals it.
    jku_matches = "jku" not in header or (client.jwks_url is not None and header["jku"] == client.jwks_url)
    if not jku_matches and not client.inline_keys:
        raise AuthError(f"jku {_show(header['jku'])} is not the jwks_url configured for this iss")
    key = jwks.key_for(client, kid, may_fetch=jku_matches)
    if key is None:
        raise AuthError(f"no key with kid {_show(kid)} for iss {_show(client.iss)}")
    if not key.supports(alg):
        raise AuthError(f"key {_show(kid)} cannot verify alg {alg}")
    if _verify_signature(token, key, alg) != claims:
        raise AuthError("verified claims differ from the parsed ones")  # defensive: same bytes, same parser
    if not replay.remember(client.iss, claims["jti"], claims["exp"] + leeway_s):
        raise AuthError(f"jti {_show(claims['jti'])} already used")
    return VerifiedClient(client=client, jti=claims["jti"], claims=claims)


def _bearer_token(authorization_header: str | None, max_token_bytes: int) -> str:
    if not authorization_header:
        raise AuthError("no Authorization header")
    # A coarse bound before any string work, so a megabyte header costs nothing.
    if len(authorization_header) > max_token_bytes + 64:
        raise AuthError(f"token longer than {max_token_bytes} bytes")
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("Authorization scheme is not Bearer")
    token = token.strip(" ")
    if not token:
        raise AuthError("empty bearer token")
    if len(token) > max_token_bytes:  # a valid token is ASCII, so characters are bytes
        raise AuthError(f"token longer than {max_token_bytes} bytes")
    return token


def _decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    match = _COMPACT_JWS.fullmatch(token)
    if match is None:
        raise AuthError("not a compact JWS (three base64url segments)")
    header = _json_object(match.group(1), "header")
    claims = _json_object(match.group(2), "payload")
    return header, claims


def _json_object(segment: str, what: str) -> dict[str, Any]:
    if len(segment) % 4 == 1:
        raise AuthError(f"{what} is not valid base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant
        )
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise AuthError(f"{what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise AuthError(f"{what} is not a JSON object")
    return value


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "alg" or "aud" members could be read differently by two parsers; RFC 7515 lets us refuse them.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity would slip through numeric comparisons


def _check_header(header: Mapping[str, Any]) -> tuple[str, str]:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise AuthError(f"alg {_show(alg)} not allowed")
    if "crit" in header:
        # We understand no extension, so RFC 7515 §4.1.11 says a token that requires one is invalid.
        raise AuthError("crit header present")
    if "typ" in header and (not isinstance(header["typ"], str) or header["typ"].upper() != "JWT"):
        raise AuthError(f"typ {_show(header['typ'])} is not JWT")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise AuthError("kid missing or not a short string")
    return alg, kid


def _check_claims(
    claims: Mapping[str, Any], *, expected_aud: str, now: float, leeway_s: float, max_lifetime_s: float
) -> None:
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise AuthError(f"missing claim(s) {missing}")
    if not isinstance(claims["iss"], str) or not claims["iss"]:
        raise AuthError("iss is not a string")
    if not _is_audience(claims["aud"], expected_aud):
        raise AuthError(f"aud {_show(claims['aud'])} is not {expected_aud!r}")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise AuthError("jti missing or not a short string")
    exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
    if exp <= now - leeway_s:
        raise AuthError("token expired")
    if iat > now + leeway_s:
        raise AuthError("iat in the future")
    if exp <= iat or exp - iat > max_lifetime_s:
        raise AuthError(f"lifetime exp - iat = {exp - iat:.0f} s is not within (0, {max_lifetime_s:.0f}]")
    if "nbf" in claims and _numeric_date(claims, "nbf") > now + leeway_s:
        raise AuthError("nbf in the future")


def _is_audience(aud: Any, expected_aud: str) -> bool:
    # Exact comparison: the spec says aud is the URL that was called, and a trailing slash is another URL.
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    return isinstance(aud, str) and aud == expected_aud


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AuthError(f"{name} is not a number")
    return float(value)


def _verify_signature(token: str, key: PublicJwk, alg: str) -> Any:
    try:
        # A jose key object built from our own public key: jose cannot fall back to HMAC or another key.
        jose_key = jose_jwk.construct(key.public_key, alg)
        return jose_jwt.decode(token, jose_key, algorithms=[alg], options=_JOSE_SIGNATURE_ONLY)
    except (JOSEError, ValueError, TypeError):
        raise AuthError("signature does not verify") from None


def _show(value: Any, limit: int = 80) -> str:
    """A log-safe rendering of an attacker-controlled value: repr (escapes newlines), truncated."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
