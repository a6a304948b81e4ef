"""Every 4xx/5xx body is a FHIR OperationOutcome whose issue[0].diagnostics says what is wrong (contract §5)."""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, request

from cds_service.observability import metrics
from cds_service.storage.errors import DatabaseUnavailable

log = logging.getLogger("cds_service.api")
# Seconds a client is told to wait before retrying while the database is down (a routine restart takes a few).
DATABASE_RETRY_AFTER_S = 5

ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               408: "timeout", 412: "incomplete", 413: "too-long", 431: "too-long",
               500: "exception", 503: "transient"}


class ApiError(Exception):
    def __init__(self, status: int, diagnostics: str):
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics


def operation_outcome(status: int, diagnostics: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": ISSUE_CODES.get(status, "processing"), "diagnostics": diagnostics}],
    }
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def database_unavailable(exc: DatabaseUnavailable) -> Response:
    """Database down or restarting: a fast 503 the client may retry, and one log line (no traceback)."""
    metrics.DATABASE_ERRORS.labels("request").inc()
    log.error("database unavailable on %s %s: %s", request.method, request.path, exc.reason)
    response = operation_outcome(503, "the service's database is unavailable; the call was not answered "
                                      f"and not recorded; retry in {DATABASE_RETRY_AFTER_S} s")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


def install_storage_errors(app: Flask) -> None:
    app.register_error_handler(DatabaseUnavailable, database_unavailable)
    install_refusal_audit(app)  # here, not in app.py: every app that stores also audits its refusals


# Refusals that are audited (CRD: every call is logged), and the class each is recorded under. Only these fixed
# words are stored: a refusal's diagnostics may echo what the client sent (an iss, a kid, a service id).
REFUSAL_CLASSES = {400: "bad-request", 401: "jwt-refused", 403: "forbidden", 404: "not-found",
                   405: "method-not-allowed", 412: "prefetch-unavailable", 413: "body-too-large",
                   431: "headers-too-large"}


def audit_refusal(response: Response) -> Response:
    """One `refusal` row per refused call: time, method, route rule, known service, verified client, status, class."""
    reason = REFUSAL_CLASSES.get(response.status_code)
    if reason is None or request.method == "OPTIONS":
        return response
    svc = current_app.extensions.get("facet_cds")
    if svc is None:
        return response
    rule = request.url_rule.rule if request.url_rule is not None else "-"
    if rule == "-" and reason == "not-found":
        reason = "no-such-route"
    service_id = (request.view_args or {}).get("service_id")
    client = getattr(g.get("client"), "iss", None)
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
