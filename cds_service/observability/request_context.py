"""The request id: one per HTTP call, on every log line of that call, in the response and in its audit row.

A caller's X-Request-ID is kept when it is sane (1–64 of [A-Za-z0-9._-]) so a proxy's or EHR's id ties
their logs to ours; anything else (too long, other characters: possibly log injection) is replaced by a
fresh id. Kept in a ContextVar so storage and logging read it without a Flask import.
"""
from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from flask import Flask, Response, request

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_current: ContextVar[str | None] = ContextVar("cds_request_id", default=None)


def current_request_id() -> str | None:
    return _current.get()


def accepted_or_new(offered: str | None) -> str:
    if offered is not None and _SANE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def install(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        request.environ["cds.request_id"] = request_id = accepted_or_new(request.headers.get(HEADER))
        _current.set(request_id)

    @app.after_request
    def return_request_id(response: Response) -> Response:
        # Set here too when an earlier before_request answered first (the CORS preflight does).
        request_id = request.environ.get("cds.request_id") or accepted_or_new(request.headers.get(HEADER))
        response.headers[HEADER] = request_id
        return response

    @app.teardown_request
    def forget_request_id(_exc: BaseException | None) -> None:
        _current.set(None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a call), so formats can name %(request_id)s."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or "-"
        return True
