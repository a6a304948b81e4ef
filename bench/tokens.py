"""A CDS client's ES384 signing key for the benchmark, and its JWTs (a fresh `jti` on every call)."""
from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt

BENCH_ISSUER = "https://bench.facet-cds.invalid"


def _b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(48, "big")).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class ClientKey:
    issuer: str = BENCH_ISSUER
    kid: str = field(default_factory=lambda: f"bench-{uuid.uuid4()}")
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))

    def public_jwks(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {"keys": [{"kty": "EC", "crv": "P-384", "use": "sig", "alg": "ES384", "kid": self.kid,
                          "x": _b64url_int(numbers.x), "y": _b64url_int(numbers.y)}]}

    def clients_file(self, fhir_servers: list[str]) -> dict[str, Any]:
        """The CDS_CLIENTS_FILE document that trusts this key (contract §2)."""
        return {"clients": [{"iss": self.issuer, "jwks": self.public_jwks(), "fhir_servers": fhir_servers}]}

    def bearer(self, audience: str, expires_at: float | None = None) -> str:
        """`Authorization` header value for one call to `audience` (the exact URL called); 5 minutes unless told."""
        now = int(time.time())
        exp = int(expires_at) if expires_at else now + 300
        claims = {"iss": self.issuer, "aud": audience, "iat": now, "exp": exp, "jti": str(uuid.uuid4())}
        return "Bearer " + jwt.encode(claims, self._pem, algorithm="ES384", headers={"kid": self.kid})

    @property
    def _pem(self) -> str:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii")
