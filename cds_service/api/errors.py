"""Every 4xx/5xx body is a FHIR OperationOutcome whose issue[0].diagnostics says what is wrong (contract §5).

`ERROR_TABLE` is the one place an error becomes an HTTP status: routes raise the error class that says what
went wrong (`cds_service.errors`) and never pick a status themselves.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from cds_service import errors
from cds_service.api.context import caller, services_if_installed
from cds_service.fhir_access import FhirAccessError
from cds_service.observability import metrics
from cds_service.security import AuthError
from cds_service.storage.errors import DatabaseUnavailable

log = logging.getLogger("cds_service.api")
# Seconds a client is told to wait before retrying while the database is down (a routine restart takes a few).
DATABASE_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class ErrorAnswer:
    """How one error class is answered."""

    status: int
    code: str  # OperationOutcome issue.code
    diagnostics: str | None = None  # fixed text; None: the error's own message, which is written for the caller
    retry_after_s: int | None = None
    log_traceback: bool = False  # a fault of ours: logged with its traceback, answered without detail
    logged_as: str = ""  # 5xx without traceback: the words of its one log line (default: the class name)


INTERNAL = ErrorAnswer(500, "exception", "internal error; the incident was logged", log_traceback=True)

# Categories first (every CdsError derives from one of them), then the classes answered differently.
ERROR_TABLE: dict[type[errors.CdsError], ErrorAnswer] = {
    errors.CdsError: INTERNAL,
    errors.RequestRefused: ErrorAnswer(400, "invalid"),
    errors.InvalidRequest: ErrorAnswer(400, "invalid"),
    errors.Unauthorized: ErrorAnswer(401, "login"),
    errors.Forbidden: ErrorAnswer(403, "forbidden"),
    errors.NotFound: ErrorAnswer(404, "not-found"),
    errors.RequestTimeout: ErrorAnswer(408, "timeout"),
    errors.PreconditionFailed: ErrorAnswer(412, "incomplete"),  # PrefetchUnavailable names cause and keys, once
    errors.PayloadTooLarge: ErrorAnswer(413, "too-long"),
    errors.HeadersTooLarge: ErrorAnswer(431, "too-long"),
    errors.ServiceUnavailable: ErrorAnswer(503, "transient", "a service dependency is unavailable; retry later"),
    errors.UpstreamError: INTERNAL,  # handled where raised (indeterminate, a refusal); reaching here is a bug
    errors.ConfigurationError: INTERNAL,  # raised at start-up; at request time it is a bug
    FhirAccessError: INTERNAL,  # the package's base (its subclasses are a 412 and an upstream fault); never raised
    # a JWT refusal's reason is for the log only: the caller learns nothing about why (contract §3)
    AuthError: ErrorAnswer(401, "login", "authentication required: a valid client JWT was not presented"),
    DatabaseUnavailable: ErrorAnswer(
        503, "transient", "the service's database is unavailable; the call was not answered and not recorded; "
        f"retry in {DATABASE_RETRY_AFTER_S} s", retry_after_s=DATABASE_RETRY_AFTER_S,
        logged_as="database unavailable"),
}

# For werkzeug's own HTTP errors (unknown route, wrong method): the issue code by status.
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               408: "timeout", 412: "incomplete", 413: "too-long", 431: "too-long",
               500: "exception", 503: "transient"}


def answer_for(error: errors.CdsError) -> ErrorAnswer:
    """The table entry of the error's class, else of its nearest ancestor in the table."""
    return next(ERROR_TABLE[cls] for cls in type(error).__mro__ if cls in ERROR_TABLE)


def operation_outcome(status: int, diagnostics: str, headers: dict[str, str] | None = None,
                      code: str | None = None) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code or ISSUE_CODES.get(status, "processing"),
                   "diagnostics": diagnostics}],
    }
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def cds_error(error: errors.CdsError) -> Response:
    answer = answer_for(error)
    if isinstance(error, DatabaseUnavailable):
        metrics.DATABASE_ERRORS.labels("request").inc()
    if answer.log_traceback:
        log.exception("unexpected %s on %s %s", type(error).__name__, request.method, request.path)
    elif answer.status >= 500:  # a dependency down: one log line, no traceback
        log.error("%s on %s %s: %s", answer.logged_as or type(error).__name__, request.method, request.path, error)
    headers = {"Retry-After": str(answer.retry_after_s)} if answer.retry_after_s else None
    return operation_outcome(answer.status, answer.diagnostics or str(error), headers, code=answer.code)


def install_error_handlers(app: Flask) -> None:
    """Every error answered as an OperationOutcome: ours by the table, werkzeug's by status, the rest as 500."""
    app.register_error_handler(errors.CdsError, cds_error)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return operation_outcome(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return operation_outcome(INTERNAL.status, INTERNAL.diagnostics or "internal error")


def install_storage_errors(app: Flask) -> None:
    install_refusal_audit(app)  # here, not in app.py: every app that stores also audits its refusals


# Refusals that are audited (CRD: every call is logged), and the class each is recorded under. Only these fixed
# words are stored: a refusal's diagnostics may echo what the client sent (an iss, a kid, a service id).
REFUSAL_CLASSES = {400: "bad-request", 401: "jwt-refused", 403: "forbidden", 404: "not-found",
                   405: "method-not-allowed", 408: "body-timeout", 412: "prefetch-unavailable",
                   413: "body-too-large", 431: "headers-too-large"}


def audit_refusal(response: Response) -> Response:
    """One `refusal` row per refused call: time, method, route rule, known service, verified client, status, class."""
    reason = REFUSAL_CLASSES.get(response.status_code)
    if reason is None or request.method == "OPTIONS":
        return response
    svc = services_if_installed()
    if svc is None:
        return response
    rule = request.url_rule.rule if request.url_rule is not None else "-"
    if rule == "-" and reason == "not-found":
        reason = "no-such-route"
    service_id = (request.view_args or {}).get("service_id")
    verified = caller()
    client = verified.iss if verified is not None else None
    # WARNING: a refusal is the client's problem to fix, worth seeing; only the fixed class, never the diagnostics
    log.warning("refused %s %s: %d %s", request.method[:16], rule, response.status_code, reason,
                extra={"status": response.status_code, "reason": reason, "client": metrics.client_label(client)})
    try:
        svc.store.record_refusal(method=request.method[:16], route=rule,
                                 service_id=service_id if svc.service(str(service_id)) else None,
                                 client=client, status=response.status_code, reason=reason)
    except Exception as exc:  # noqa: BLE001 - the refusal is still answered; the log says the row is missing
        metrics.DATABASE_ERRORS.labels("refusal-audit").inc()
        log.error("refusal (%s %s) not recorded: %s", response.status_code, reason, type(exc).__name__)
    return response


def install_refusal_audit(app: Flask) -> None:
    app.after_request(audit_refusal)
