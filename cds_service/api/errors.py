"""Every 4xx/5xx body is a FHIR OperationOutcome whose issue[0].diagnostics says what is wrong (contract §5)."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request

from cds_service.storage.errors import DatabaseUnavailable

log = logging.getLogger("cds_service.api")
# Seconds a client is told to wait before retrying while the database is down (a routine restart takes a few).
DATABASE_RETRY_AFTER_S = 5

ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               412: "incomplete", 413: "too-long", 431: "too-long",
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
    log.error("database unavailable on %s %s: %s", request.method, request.path, exc.reason)
    response = operation_outcome(503, "the service's database is unavailable; the call was not answered "
                                      f"and not recorded; retry in {DATABASE_RETRY_AFTER_S} s")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


def install_storage_errors(app: Flask) -> None:
    app.register_error_handler(DatabaseUnavailable, database_unavailable)
