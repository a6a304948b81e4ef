"""Every 4xx/5xx body is a FHIR OperationOutcome whose issue[0].diagnostics says what is wrong (contract §5)."""
from __future__ import annotations

from flask import Response, jsonify

ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               412: "incomplete", 413: "too-long", 431: "too-long",
               500: "exception"}


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
