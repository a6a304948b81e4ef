"""Mint keys and CDS client JWTs for tests, with `cryptography` only (independent of the code under test).

    key = KeyPair.generate("ES384")
    client_entry = {"iss": ISS, "jwks": key.jwks()}
    token = key.sign(make_claims(aud=URL, iss=ISS))
    token = key.sign(make_claims(aud=URL, iss=ISS, jti=None), headers={"kid": "other"})  # None removes

Signing never looks at the header's `alg`, so tests can forge any header around a real signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

SUPPORTED_ALGORITHMS = ("ES384", "RS384")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_segment(value: Any) -> str:
    """A JWS segment: JSON (compact) for dicts/lists, raw for bytes."""
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url(raw)


def compact(header: Any, claims: Any, signature: bytes = b"") -> str:
    """Assemble a compact JWS from parts without signing (for malformed and unsigned tokens)."""
    return f"{encode_segment(header)}.{encode_segment(claims)}.{b64url(signature)}"


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def make_claims(aud: str, iss: str, /, *, now: float | None = None, lifetime_s: int = 300, **overrides: Any) -> dict:
    """The claims a CDS client sends (as the sandbox does: exp = iat + 300); an override of None removes one.

    `aud` and `iss` are positional-only so that they, too, can be overridden (e.g. `aud=[AUD]`, `iss=None`).
    """
    issued_at = int(time.time() if now is None else now)
    claims = {"iss": iss, "aud": aud, "iat": issued_at, "exp": issued_at + lifetime_s, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    return _without_none(claims)


def hs256_token(claims: dict, secret: bytes, headers: dict | None = None) -> str:
    """An HMAC-signed token, for alg-confusion attacks (public key PEM or empty secret)."""
    header = _without_none({"alg": "HS256", "typ": "JWT", **(headers or {})})
    signing_input = f"{encode_segment(header)}.{encode_segment(claims)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@dataclass(frozen=True)
class KeyPair:
    alg: str
    kid: str
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def generate(cls, alg: str = "ES384", kid: str | None = None) -> KeyPair:
        if alg == "ES384":
            private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = ec.generate_private_key(ec.SECP384R1())
        elif alg == "RS384":
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"alg must be one of {SUPPORTED_ALGORITHMS}")
        return cls(alg=alg, kid=kid or str(uuid.uuid4()), private_key=private_key)

    def public_jwk(self) -> dict[str, str]:
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            return {
                "kty": "EC",
                "crv": "P-384",
                "kid": self.kid,
                "use": "sig",
                "alg": self.alg,
                "x": b64url(numbers.x.to_bytes(48, "big")),
                "y": b64url(numbers.y.to_bytes(48, "big")),
            }
        numbers = public.public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": self.alg,
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }

    def jwks(self, *others: KeyPair) -> dict[str, list[dict[str, str]]]:
        """A JWK Set with this public key (and any others given)."""
        return {"keys": [self.public_jwk(), *(other.public_jwk() for other in others)]}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: Any, headers: dict[str, Any] | None = None) -> str:
        """A compact JWS of `claims`; `headers` are merged over {alg, typ: JWT, kid}, None removing one."""
        header = _without_none({"alg": self.alg, "typ": "JWT", "kid": self.kid, **(headers or {})})
        signing_input = f"{encode_segment(header)}.{encode_segment(claims)}".encode("ascii")
        return f"{signing_input.decode('ascii')}.{b64url(self.signature(signing_input))}"

    def signature(self, signing_input: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
            return r.to_bytes(48, "big") + s.to_bytes(48, "big")  # JWS wants raw r||s, not DER
        return self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
