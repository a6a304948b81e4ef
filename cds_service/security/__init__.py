"""The trust layer: which CDS clients we accept, their keys, JWT verification, replay and SSRF allow-lists.

A plain library (no Flask): the HTTP layer calls `verify_client_jwt` and `fhir_server_allowed`.
"""

from cds_service.security.clients import (
    ClientConfigError,
    ClientRegistry,
    FhirServerAllowlist,
    TrustedClient,
    dev_allowlist,
    fhir_server_allowed,
)
from cds_service.security.jwks import (
    JwksError,
    JwksFetchError,
    JwksProvider,
    PublicJwk,
    fetch_jwks_document,
    parse_jwks,
)
from cds_service.security.jwt_verify import ALLOWED_ALGORITHMS, AuthError, VerifiedClient, verify_client_jwt
from cds_service.security.replay import InMemoryReplayStore, PostgresReplayStore, ReplayStore, SqliteReplayStore

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AuthError",
    "ClientConfigError",
    "ClientRegistry",
    "FhirServerAllowlist",
    "InMemoryReplayStore",
    "JwksError",
    "JwksFetchError",
    "JwksProvider",
    "PostgresReplayStore",
    "PublicJwk",
    "ReplayStore",
    "SqliteReplayStore",
    "TrustedClient",
    "VerifiedClient",
    "dev_allowlist",
    "fetch_jwks_document",
    "fhir_server_allowed",
    "parse_jwks",
    "verify_client_jwt",
]
