"""The health-IT admin console (/admin) and admin API (/admin/api/...).

Disabled (404) unless CDS_ADMIN_TOKEN is set and long enough (security/admin_session.py). The API takes
`Authorization: Bearer <token>`; the pages take the token once in a sign-in form and keep a signed,
HttpOnly, SameSite=Strict session cookie with an expiry. Pages are server-rendered (Jinja); the charts are
drawn by the package's own static/admin.js with the vendored Chart.js (no CDN, no inline script: a CSP).
A patient id typed into the search box is POSTed (never in a URL, so never in an access log), hashed with
the service's key, and only the hash goes further.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from cds_service.api import admin_views as views
from cds_service.api.context import services
from cds_service.api.errors import operation_outcome
from cds_service.errors import NotFound, Unauthorized
from cds_service.observability import metrics
from cds_service.security.admin_session import (
    COOKIE_NAME,
    COOKIE_PATH,
    SECURITY_HEADERS,
    AdminConfig,
    Sessions,
    SignInLimiter,
    client_address,
)
from cds_service.storage.console_queries import NO_CLIENT, CallFilter, ConsoleQueries
from cds_service.storage.store import patient_hash
from cds_service.usecases.services import Services

admin = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")


@dataclass
class AdminState:
    config: AdminConfig
    sessions: Sessions
    limiter: SignInLimiter
    queries: ConsoleQueries


@admin.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    services = app.extensions["facet_cds"]
    settings = services.settings
    config = AdminConfig.build(token=settings.admin_token, session_key=settings.admin_session_key,
                               hash_key=services.hash_key,
                               session_minutes=settings.admin_session_minutes, base_url=settings.base_url,
                               trust_forwarded_proto=settings.trust_forwarded_proto)
    app.extensions["facet_cds_admin"] = AdminState(config, Sessions(config), SignInLimiter(),
                                                   ConsoleQueries(settings.database))


def _state() -> AdminState:
    state: AdminState = current_app.extensions["facet_cds_admin"]
    return state


def _svc() -> Services:
    return services()  # typed (api/context.py)


@admin.after_request
def _headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint == "admin.static":  # the vendored library may be cached; pages never are
        response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _enabled() -> AdminState:
    state = _state()
    if not state.config.enabled:
        raise NotFound("the admin console is disabled (set CDS_ADMIN_TOKEN, at least 16 characters)")
    return state


def _address(state: AdminState) -> str:
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                          state.config.trust_forwarded_proto)


def _too_many(state: AdminState, *, page: bool) -> Response | None:
    """The 429 for an address over the sign-in limit (form and Bearer attempts count alike), else None:
    the sign-in page again for a person, an OperationOutcome for a script."""
    retry_after = state.limiter.retry_after(_address(state))
    if not retry_after:
        return None
    metrics.ADMIN_SIGN_INS.labels("rate-limited").inc()
    text = f"Too many sign-in attempts from this address; try again in {retry_after} s."
    headers = {"Retry-After": str(retry_after)}
    if not page:
        return operation_outcome(429, text, headers)
    return Response(render_template("admin_login.html", problem=text), status=429, mimetype="text/html",
                    headers=headers)


class _RateLimited(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@admin.app_errorhandler(_RateLimited)  # app-wide: other admin blueprints (export) call _require too
def _rate_limited(exc: _RateLimited) -> Response:
    return exc.response


def _authorised(state: AdminState) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):  # a script's sign-in: wrong tokens count against the limit too
        refused = _too_many(state, page=False)
        if refused is not None:
            raise _RateLimited(refused)
        if state.config.token_matches(header[7:]):
            return True
        metrics.ADMIN_SIGN_INS.labels("wrong-token").inc()
        state.limiter.failed(_address(state))
        return False
    return state.sessions.valid(request.cookies.get(COOKIE_NAME))


def _require() -> AdminState:
    state = _enabled()
    if not _authorised(state):
        raise Unauthorized("admin authentication required")
    return state


# -- sign-in, sign-out
@admin.post("/login")
def login() -> Response | WerkzeugResponse:
    state = _enabled()
    refused = _too_many(state, page=True)
    if refused is not None:
        return refused
    if not state.config.token_matches(request.form.get("token", "")):
        metrics.ADMIN_SIGN_INS.labels("wrong-token").inc()
        state.limiter.failed(_address(state))
        return Response(render_template("admin_login.html", problem="Wrong token."), status=401,
                        mimetype="text/html")
    metrics.ADMIN_SIGN_INS.labels("success").inc()
    response = redirect("/admin", code=303)
    response.set_cookie(COOKIE_NAME, state.sessions.issue(), max_age=state.config.session_s, path=COOKIE_PATH,
                        httponly=True, samesite="Strict",
                        secure=state.config.secure_cookie(request.headers.get("X-Forwarded-Proto")))
    return response


@admin.post("/logout")
def logout() -> WerkzeugResponse:
    state = _enabled()
    response = redirect("/admin", code=303)
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="Strict",
                           secure=state.config.secure_cookie(request.headers.get("X-Forwarded-Proto")))
    return response


# -- the console
@admin.get("")
def console() -> Response:
    state = _enabled()
    if not _authorised(state):
        return Response(render_template("admin_login.html", problem=None), mimetype="text/html")
    form = views.read_form(request.args)
    overview = state.queries.overview(form.filter, bucket_s=form.bucket_s)
    feedback = state.queries.feedback(form.filter)
    rows, total = state.queries.calls_page(form.filter, page=form.page, per_page=views.PER_PAGE)
    pages = max(1, -(-total // views.PER_PAGE))
    chart = {
        "labels": [views.bucket_label(b["start"], form.bucket_s) for b in overview["series"]],
        "answered": [b["answered"] for b in overview["series"]],
        "refused": [b["refused"] for b in overview["series"]],
        "fhirFailures": [b["fhirFailures"] for b in overview["series"]],
        "p50": [b["p50"] for b in overview["series"]],
        "p95": [b["p95"] for b in overview["series"]],
        "criteria": [{"label": f"{_revision_label(c['revision'])} {c['criterion']}", "notMet": c["notMet"],
                      "needsDocumentation": c["needsDocumentation"]} for c in overview["byCriterion"][:15]],
    }
    message = request.args.get("message")
    return Response(render_template(
        "admin_console.html", form=form, overview=overview, feedback=feedback, rows=rows, total=total,
        pages=pages, chart=chart, choices=state.queries.choices(form.filter), views=views,
        revision_label=_revision_label, criterion_title=_criterion_title,
        status_auth="on" if _svc().settings.auth_on else "OFF (demo only)", search_kinds=views.SEARCH_KINDS,
        message=message if message in _MESSAGES else None, messages=_MESSAGES, no_client=NO_CLIENT,
        export=_EXPORT_ENDPOINT in current_app.view_functions,
    ), mimetype="text/html")


_EXPORT_ENDPOINT = "admin_export.audit_export"  # the audit export (api/admin_export.py), when installed
_MESSAGES = {"not-found": "Nothing matched that search.", "bad-search": "That search term is not valid."}


@admin.post("/search")
def search() -> WerkzeugResponse:
    state = _require()
    kind = request.form.get("kind", "")
    term = request.form.get("q", "").strip()
    if kind not in views.SEARCH_KINDS or not term or len(term) > 200 or any(ord(ch) < 32 for ch in term):
        return redirect("/admin?message=bad-search", code=303)
    if kind == "assertion":
        audit_id = state.queries.audit_id_of_assertion(term)
        return redirect(f"/admin/calls/{audit_id}" if audit_id else "/admin?message=not-found", code=303)
    if kind == "patient":  # hashed here, with the service's key; the id itself goes no further
        hashed = patient_hash(_svc().hash_key, term)
        return redirect(views.ConsoleForm(CallFilter()).url(patient=hashed, **{"from": "2000-01-01"}), code=303)
    if not (views.FHIR_ID if kind == "order" else views.HOOK_INSTANCE).match(term):
        return redirect("/admin?message=bad-search", code=303)
    return redirect(views.ConsoleForm(CallFilter()).url(**{kind: term, "from": "2000-01-01"}), code=303)


@admin.get("/calls/<int:audit_id>")
def decision_page(audit_id: int) -> Response:
    state = _enabled()
    if not _authorised(state):
        return Response(render_template("admin_login.html", problem=None), mimetype="text/html")
    call = state.queries.call(audit_id)
    if call is None:
        raise NotFound(f"no call {audit_id} in the audit")
    return Response(render_template("admin_decision.html", call=call, views=views, revision_label=_revision_label,
                                    criterion_title=_criterion_title, revision_effective=_revision_effective),
                    mimetype="text/html")


# -- JSON API (Bearer token)
@admin.get("/api/audit")
def audit_api() -> Response:
    _require()
    limit = min(max(request.args.get("limit", 50, type=int), 1), 500)
    return jsonify({"entries": _svc().store.recent_audit(limit)})


@admin.get("/api/assertions/<assertion_id>")
def assertion_api(assertion_id: str) -> Response:
    _require()
    found = _svc().store.assertion(assertion_id)
    if found is None:
        raise NotFound(f"no coverage assertion '{assertion_id}'")
    return jsonify(found)


@admin.get("/api/overview")
def overview_api() -> Response:
    """The console's numbers as JSON (same filters as the page), for scripts and checks."""
    state = _require()
    form = views.read_form(request.args)
    return jsonify({"overview": state.queries.overview(form.filter, bucket_s=form.bucket_s),
                    "feedback": state.queries.feedback(form.filter), "problems": form.problems})


# -- words for the pages
def _revision(revision_id: str | None) -> Any:
    return next((r for r in _svc().library.revisions if r.revision == revision_id), None)


def _revision_label(revision_id: str | None) -> str:
    found = _revision(revision_id)
    return f"{found.policy} {found.label}" if found else (revision_id or "none")


def _revision_effective(revision_id: str | None) -> str:
    found = _revision(revision_id)
    return found.effective.isoformat() if found else ""


def _criterion_title(revision_id: str | None, criterion_id: str) -> str:
    found = _revision(revision_id)
    criterion = next((c for c in found.criteria if c.id == criterion_id), None) if found else None
    return criterion.title if criterion else ""
