"""`GET /admin/api/audit/export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=csv|ndjson`: the audit of a date range.

Behind the admin authentication (api.admin); streamed, so a long range never sits in a worker's memory.
What is in it, and what never is: storage.export.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app, request, stream_with_context

from cds_service.api import admin as admin_api
from cds_service.errors import InvalidRequest
from cds_service.storage.export import FORMATS, export

admin_export = Blueprint("admin_export", __name__, url_prefix="/admin")
MAX_DAYS = 3660  # ten years: any real range, but not a typo like 0026-01-01


def _day(name: str) -> date:
    value = request.args.get(name, "")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a date, YYYY-MM-DD") from None


@admin_export.get("/api/audit/export")
def audit_export() -> Response:
    admin_api._require()  # the admin blueprint's own check (token or session)
    first, last = _day("from"), _day("to")
    if last < first:
        raise InvalidRequest("'to' is before 'from'")
    if (last - first).days > MAX_DAYS:
        raise InvalidRequest(f"a range of at most {MAX_DAYS} days")
    fmt = request.args.get("format", "csv")
    if fmt not in FORMATS:
        raise InvalidRequest("'format' must be csv or ndjson")
    store = current_app.extensions["facet_cds"].store
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(stream_with_context(export(store, first, last, fmt)),
                        mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="facet-cds-audit-{first}-{last}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
