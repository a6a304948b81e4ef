"""One exception tree for the whole service (issue 9). Every error the service raises derives from `CdsError`.

    CdsError
      RequestRefused            the caller's request is refused (4xx); the message is written for the caller
        InvalidRequest          400  (cdshooks.request.BadRequest)
        Unauthorized            401  (security.AuthError: its reason is for the log, never the answer)
        Forbidden               403
        NotFound                404
        RequestTimeout          408  (server.body_deadline.BodyDeadlineExceeded)
        PreconditionFailed      412  (fhir_access.PrefetchUnavailable)
        PayloadTooLarge         413
        HeadersTooLarge         431
      ServiceUnavailable        503, retry later (storage.DatabaseUnavailable)
      UpstreamError             a server we call failed (fhir_access.FhirUnavailable, security.JwksFetchError):
                                handled where it happens (indeterminate, 401), never an HTTP status of its own
      ConfigurationError        unusable settings or data, raised at start-up (settings, clients, JWKS, policy)

This module knows nothing of HTTP: `api/errors.py` holds the one table from these classes to statuses and
OperationOutcome codes. Raise the most specific class; a module's own class (keeping its old name) derives
from the category and, where callers catch it so, from the builtin it always was (ValueError, RuntimeError).
"""
from __future__ import annotations


class CdsError(Exception):
    """Base of every error facet-cds raises on purpose."""


class RequestRefused(CdsError):
    """The caller's request cannot be answered as asked. The message is for the caller (no PHI, no secrets)."""


class InvalidRequest(RequestRefused):
    """Malformed or incomplete request (400)."""


class Unauthorized(RequestRefused):
    """The caller is not authenticated (401)."""


class Forbidden(RequestRefused):
    """Authenticated, but not allowed to do this (403)."""


class NotFound(RequestRefused):
    """No such service, resource or route (404)."""


class RequestTimeout(RequestRefused):
    """The request (its body) did not arrive in time (408)."""


class PreconditionFailed(RequestRefused):
    """The request lacks what answering needs, and the service cannot get it itself (412)."""


class PayloadTooLarge(RequestRefused):
    """The request body is over the limit (413)."""


class HeadersTooLarge(RequestRefused):
    """The request headers are over the limit (431)."""


class ServiceUnavailable(CdsError):
    """A dependency of the service itself is down; the caller may retry (503)."""


class UpstreamError(CdsError):
    """A server the service calls failed; the caller answers around it (indeterminate, a refusal)."""


class ConfigurationError(CdsError):
    """Settings, clients, keys or policy data are unusable: the service does not start."""
