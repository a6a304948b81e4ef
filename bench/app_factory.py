"""The app the service benchmark runs under gunicorn: the product app plus a floor endpoint.

    gunicorn -c deploy/gunicorn.conf.py 'bench.app_factory:create_bench_app()'

Bodies are read under the product's absolute deadline (cds_service/wsgi.py wraps the app the same way), so the
bench pays what production pays; `create_bench_app(body_deadline=False)` measures without it.

The floor (`POST /bench-floor/<service id>`) does what every hook call must do before any policy work:
verify the client's JWT (signature, claims, jti replay store) and parse and check the same body; it
answers empty cards. It exists only here, never in the product.
"""
from __future__ import annotations

import gc
from collections.abc import Hashable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from cds_service.api.release_after_send import release_after_send
from cds_service.app import create_app
from cds_service.cdshooks.request import parse_hook_request, parse_json
from cds_service.security import AuthError, verify_client_jwt
from cds_service.server.body_deadline import BodyDeadline

FLOOR_PATH = "/bench-floor"


class NoRecordCache:
    """Stands in for the per-process record cache, so every "fetched" call really reads the FHIR server."""

    def get(self, key: Hashable) -> Any | None:
        return None

    def put(self, key: Hashable, value: Any) -> None:
        pass


def floor(service_id: str) -> Response:
    svc = current_app.extensions["facet_cds"]
    service = svc.service(service_id)
    if service is None:
        return Response(status=404)
    try:
        verify_client_jwt(request.headers.get("Authorization"), expected_aud=f"{svc.settings.base_url}{request.path}",
                          registry=svc.clients, jwks=svc.jwks, replay=svc.replay)
    except AuthError:
        return Response(status=401)
    body = request.get_data()
    data = parse_json(body, svc.settings.requests.max_json_depth)
    hook_request = parse_hook_request(data, expected_hook=service.hook,
                                      max_draft_orders=svc.settings.requests.max_draft_orders,
                                      max_prefetch_resources=svc.settings.fetch.max_resources, body=body)
    # freed after the answer is sent, as the hook route does
    return release_after_send(jsonify({"cards": [], "systemActions": []}), body, data, hook_request)


def create_bench_app(body_deadline: bool = True) -> Flask:
    app = create_app()
    app.extensions["facet_cds"].record_cache = NoRecordCache()
    app.add_url_rule(f"{FLOOR_PATH}/<service_id>", "bench_floor", floor, methods=["POST"])
    if body_deadline:
        app.wsgi_app = BodyDeadline(app.wsgi_app)  # type: ignore[method-assign]
    gc.freeze()  # gunicorn's entry point here, as cds_service/wsgi.py is the product's
    gc.set_threshold(100_000, 50, 100)  # as cds_service/wsgi.py
    return app
