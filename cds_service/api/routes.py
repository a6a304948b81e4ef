"""Routes: discovery, hook calls, feedback, Questionnaires, health, metrics."""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from cds_service.api.context import caller, remember_caller, services
from cds_service.api.errors import answer_for, operation_outcome
from cds_service.api.path_slashes import CALLED_PATH
from cds_service.api.release_after_send import release_after_send
from cds_service.cdshooks.discovery import discovery_document
from cds_service.cdshooks.questionnaire import questionnaire_for
from cds_service.cdshooks.request import parse_hook_request, parse_json
from cds_service.errors import CdsError, Forbidden, HeadersTooLarge, InvalidRequest, NotFound, PayloadTooLarge
from cds_service.observability import metrics
from cds_service.observability.lifecycle import DRAIN
from cds_service.security import AuthError, TrustedClient, fhir_server_allowed, verify_client_jwt
from cds_service.usecases.services import Services

bp = Blueprint("cds", __name__)
log = logging.getLogger("cds_service.api")
# Below every front server's own limit (gunicorn: 8190 bytes a field, 100 fields), so that oversized headers
# that get through are refused here with an OperationOutcome rather than logged or stored.
MAX_HEADER_BYTES = 16 * 1024
# Feedback items per request: a client sends one per card it showed, and a call returns a few cards; 50 is far
# above any real batch and bounds the rows one request can write.
MAX_FEEDBACK_ITEMS = 50
MAX_FEEDBACK_FIELD = 128  # characters of a card uuid or outcomeTimestamp (both far shorter when real)
MAX_FEEDBACK_COMMENT = 1000  # characters of a clinician's override comment: a sentence or two, not a note


def _read_body(svc: Services) -> bytes:
    limit = svc.settings.requests.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    return body


def _audience(svc: Services) -> str:
    """The URL the client's JWT must name: this endpoint as the client called it (`//` from a discovery URL typed
    with a trailing slash included: api/path_slashes.py)."""
    return f"{svc.settings.base_url}{request.environ.get(CALLED_PATH, request.path)}"


def _authenticate(svc: Services, audience: str) -> TrustedClient | None:
    """The verified client, or None when CDS_AUTH=off. Refusals carry no detail (401)."""
    if not svc.settings.auth_on:
        log.warning("CDS_AUTH=off: request accepted without a JWT (local demo only)")
        return None
    try:
        verified = verify_client_jwt(request.headers.get("Authorization"), expected_aud=audience,
                                     registry=svc.clients, jwks=svc.jwks, replay=svc.replay)
    except AuthError as exc:
        metrics.AUTH_FAILURES.labels("401").inc()
        log.info("JWT refused for %s: %s", request.path, exc.reason)
        raise  # answered by api.errors without the reason
    remember_caller(verified.client)  # for the refusal audit only
    return verified.client


def _check_fhir_server(svc: Services, client: TrustedClient | None, fhir_server: str | None) -> None:
    """SSRF guard: the fhirServer must be on the calling client's allow-list, before any network traffic."""
    if fhir_server is None:
        return
    allowed = fhir_server_allowed(client if client is not None else svc.dev_allowlist, fhir_server)
    if not allowed:
        metrics.AUTH_FAILURES.labels("403").inc()
        raise Forbidden("fhirServer is not on this client's allow-list")


@bp.before_app_request
def refuse_oversized_headers() -> None:
    size = sum(len(name) + len(value) + 4 for name, value in request.headers.items())
    if size > MAX_HEADER_BYTES:
        raise HeadersTooLarge(f"request headers over {MAX_HEADER_BYTES} bytes")


@bp.app_errorhandler(MethodNotAllowed)
def method_not_allowed(exc: MethodNotAllowed) -> Response:
    """A GET on a hook URL (a newcomer's first try) is a 405 that names the methods it takes (RFC 9110 `Allow`)."""
    allowed = sorted(set(exc.valid_methods or ()) - {"HEAD", "OPTIONS"})
    diagnostics = f"{request.method} is not supported here; this URL takes {' or '.join(allowed)}"
    return operation_outcome(405, diagnostics, {"Allow": ", ".join([*allowed, "OPTIONS"])})


@bp.get("/cds-services")
def discovery() -> Response:
    return jsonify(discovery_document(services().definitions))


@bp.post("/cds-services/<service_id>")
def invoke(service_id: str) -> Response:
    svc = services()
    service = svc.service(service_id)
    if service is None:
        raise NotFound(f"no CDS service '{service_id}'")
    started = time.perf_counter()
    status = 500
    try:
        # The JWT first: it needs no body (aud is this URL), so an unauthenticated sender is refused before
        # a byte of its body is waited for. The fhirServer allow-list needs the body: checked below.
        client = _authenticate(svc, _audience(svc))
        body = _read_body(svc)
        data = parse_json(body, svc.settings.requests.max_json_depth)
        hook_request = parse_hook_request(data, expected_hook=service.hook,
                                          max_draft_orders=svc.settings.requests.max_draft_orders,
                                          max_prefetch_resources=svc.settings.fetch.max_resources, body=body)
        _check_fhir_server(svc, client, hook_request.fhir_server)
        answer = svc.answer(service, hook_request, client.iss if client else None)
        status = 200
        return release_after_send(jsonify(answer), body, data, hook_request, answer)
    except CdsError as exc:
        status = answer_for(exc).status  # answered by api.errors, from its one table
        raise
    finally:
        metrics.observe_hook_call(service.hook, status, time.perf_counter() - started,
                                  getattr(caller(), "iss", None))


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    svc = services()
    if svc.service(service_id) is None:
        raise NotFound(f"no CDS service '{service_id}'")
    client = _authenticate(svc, _audience(svc))  # before the body
    body = _read_body(svc)
    data = parse_json(body, svc.settings.requests.max_json_depth)
    items = data.get("feedback") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidRequest("'feedback' must be a non-empty array")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidRequest(f"at most {MAX_FEEDBACK_ITEMS} feedback items per request (got {len(items)}); "
                             "send them in several requests")
    for i, item in enumerate(items):
        problem = _feedback_problem(item)
        if problem:
            raise InvalidRequest(f"feedback[{i}]: {problem}")
    results = [svc.store.record_feedback(service_id, client.iss if client else None, item) for item in items]
    for item, result in zip(items, results, strict=True):
        if result.stored and result.card_issued:  # rates: neither retries nor cards we never issued
            metrics.FEEDBACK.labels(item["outcome"]).inc()
    stored = sum(r.stored for r in results)
    # unknownCards: items naming a card uuid never issued to this client; stored apart, not in accept rates.
    return jsonify({"stored": stored, "duplicates": len(items) - stored,
                    "unknownCards": sum(not r.card_issued for r in results)})


def _feedback_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "must be an object"
    if not isinstance(item.get("card"), str) or not item["card"]:
        return "'card' (the card uuid) is required"
    if len(item["card"]) > MAX_FEEDBACK_FIELD or not item["card"].isprintable():
        return f"'card' must be a card uuid (printable, at most {MAX_FEEDBACK_FIELD} characters)"
    if item.get("outcome") not in ("accepted", "overridden"):
        return "'outcome' must be 'accepted' or 'overridden'"
    if not isinstance(item.get("outcomeTimestamp"), str):
        return "'outcomeTimestamp' is required"
    if len(item["outcomeTimestamp"]) > MAX_FEEDBACK_FIELD or not _is_rfc3339(item["outcomeTimestamp"]):
        return "'outcomeTimestamp' must be an RFC 3339 date-time with a zone, e.g. 2026-11-22T21:15:39Z"
    if item["outcome"] == "accepted" and not isinstance(item.get("acceptedSuggestions"), list):
        return "'acceptedSuggestions' is required when outcome is 'accepted'"
    reason = item.get("overrideReason")
    if reason is not None and not (isinstance(reason, dict) and (reason.get("reason") or reason.get("userComment"))):
        return "'overrideReason' must be an object with 'reason' (a Coding) or 'userComment', or be left out"
    if isinstance(reason, dict):
        if "reason" in reason and not isinstance(reason["reason"], dict):
            return "'overrideReason.reason' must be a Coding (an object)"
        comment = reason.get("userComment")
        if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_FEEDBACK_COMMENT):
            return f"'overrideReason.userComment' must be text of at most {MAX_FEEDBACK_COMMENT} characters"
    return None


# RFC 3339 date-time: it is part of the feedback's idempotency key, so "yesterday" must not become one.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _is_rfc3339(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30, 25:00
        return False
    return True


@bp.get("/fhir/Questionnaire/<qid>")
def questionnaire_read(qid: str) -> Response:
    for revision in services().library.revisions:
        q = questionnaire_for(revision)
        if q["id"] == qid:
            return _fhir_json(q)
    raise NotFound(f"no Questionnaire '{qid}'")


@bp.get("/fhir/Questionnaire")
def questionnaire_search() -> Response:
    url = request.args.get("url", "")
    base, _, version = url.partition("|")
    version = request.args.get("version", version)
    svc = services()
    entries = []
    for revision in svc.library.revisions:
        q = questionnaire_for(revision)
        if (not base or q["url"] == base) and (not version or q["version"] == version):
            entries.append({"fullUrl": f"{svc.settings.base_url}/fhir/Questionnaire/{q['id']}", "resource": q,
                            "search": {"mode": "match"}})
    return _fhir_json({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})


def _fhir_json(resource: dict) -> Response:
    response = jsonify(resource)
    response.mimetype = "application/fhir+json"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    svc = services()
    db_ok = svc.store.reachable()
    ready = db_ok and not DRAIN.active  # draining on SIGTERM: still answering, but take me out of rotation
    metrics.READY.set(1 if ready else 0)
    if not db_ok:
        metrics.DATABASE_ERRORS.labels("readiness").inc()
    body = {
        "status": "draining" if DRAIN.active else "ready" if db_ok else "not-ready",
        "policy": [{"revision": r.revision, "label": r.label, "effective": r.effective.isoformat(),
                    "provenance": r.provenance, "criteria": len(r.criteria)} for r in svc.library.revisions],
        "database": "reachable" if db_ok else "unreachable",
        "auth": "on" if svc.settings.auth_on else "off",
        "trustedClients": len(svc.clients),
    }
    if not svc.settings.auth_on:
        body["warning"] = "CDS_AUTH=off: requests are not authenticated. For local demos only."
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    return response


@bp.get("/metrics")
def metrics_page() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)
