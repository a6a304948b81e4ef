"""The health-IT admin dashboard and API: recent decisions, and a past decision explained by its assertion id.

Disabled (404) unless CDS_ADMIN_TOKEN is set. The API takes `Authorization: Bearer <token>`; the page
takes the token once in a login form and keeps a signed, HTTP-only session cookie.
"""
from __future__ import annotations

import hmac
from datetime import UTC, datetime
from html import escape

from flask import Blueprint, Response, jsonify, redirect, request, session
from werkzeug.wrappers import Response as WerkzeugResponse

from cds_service.api.context import services
from cds_service.errors import NotFound, Unauthorized

admin = Blueprint("admin", __name__, url_prefix="/admin")


def _token() -> str:
    token = services().settings.admin_token
    if not token:
        raise NotFound("the admin dashboard is disabled (set CDS_ADMIN_TOKEN)")
    return token


def _authorised() -> bool:
    token = _token()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    return session.get("admin") is True


def _require() -> None:
    if not _authorised():
        raise Unauthorized("admin authentication required")


@admin.get("/api/audit")
def audit_api() -> Response:
    _require()
    limit = min(max(request.args.get("limit", 50, type=int), 1), 500)
    return jsonify({"entries": services().store.recent_audit(limit)})


@admin.get("/api/assertions/<assertion_id>")
def assertion_api(assertion_id: str) -> Response:
    _require()
    found = services().store.assertion(assertion_id)
    if found is None:
        raise NotFound(f"no coverage assertion '{assertion_id}'")
    return jsonify(found)


@admin.post("/login")
def login() -> Response | WerkzeugResponse:
    if hmac.compare_digest(request.form.get("token", "").encode(), _token().encode()):
        session["admin"] = True
        return redirect("/admin")
    return Response(_page("<p class=bad>Wrong token.</p>" + _LOGIN), status=401, mimetype="text/html")


@admin.get("")
def dashboard() -> Response:
    _token()
    if not _authorised():
        return Response(_page(_LOGIN), mimetype="text/html")
    svc = services()
    rows = svc.store.recent_audit(100)
    auth = "on" if svc.settings.auth_on else "OFF (demo only)"
    body = [f"<p>Auth: <b>{auth}</b> · trusted clients: {len(svc.clients)}"
            f" · feedback items: {svc.store.feedback_count()} · revisions: "
            + ", ".join(f"{escape(r.label)} (from {r.effective})" for r in svc.library.revisions) + "</p>",
            "<table id=audit><tr><th>time (UTC)</th><th>hook</th><th>patient (hash)</th><th>ms</th>"
            "<th>procedure</th><th>revision</th><th>decision</th><th>not met</th><th>documentation</th>"
            "<th>FHIR problem</th></tr>"]
    for r in rows:
        for d in r["decisions"] or [{}]:
            body.append(
                "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
                    datetime.fromtimestamp(r["at"], UTC).strftime("%Y-%m-%d %H:%M:%S"), r["hook"],
                    r["patient_hash"] or "", f"{r['duration_ms']:.0f}", d.get("procedure", "—"),
                    d.get("revision") or "",
                    d.get("decision") or "", ", ".join(d.get("notMet", [])), ", ".join(d.get("needsDocumentation", [])),
                    r["technical_problem"] or "")) + "</tr>")
    body.append("</table>")
    return Response(_page("".join(body)), mimetype="text/html")


_LOGIN = ("<form method=post action=/admin/login><label>Admin token <input type=password name=token autofocus>"
          "</label> <button>Sign in</button></form>")


def _page(content: str) -> str:
    return ("<!doctype html><html><head><meta charset=utf-8><title>facet-cds admin</title><style>"
            "body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:3px 6px;text-align:left}.bad{color:#b00}</style></head><body><h1>facet-cds — recent decisions</h1>"
            f"{content}</body></html>")
