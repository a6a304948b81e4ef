"""create_app(): the composition root. Builds every collaborator once and hands them to the routes."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import date

from flask import Flask, Response, request

from cds_service.api.admin import admin
from cds_service.api.admin_export import admin_export
from cds_service.api.context import install_services
from cds_service.api.errors import install_error_handlers, install_storage_errors
from cds_service.api.json_provider import OrjsonProvider
from cds_service.api.path_slashes import tolerate_slashes
from cds_service.api.routes import bp
from cds_service.cdshooks.discovery import ORDER_SELECT, ORDER_SIGN, PATIENT_VIEW
from cds_service.fhir_access import client as fhir_client
from cds_service.fhir_access.cache import RecordCache
from cds_service.observability import metrics, request_context
from cds_service.security import (
    ClientRegistry,
    JwksProvider,
    ReplayStore,
    SqliteReplayStore,
    dev_allowlist,
)
from cds_service.security.replay import PostgresReplayStore
from cds_service.settings import Settings
from cds_service.storage.retention import start_purger
from cds_service.storage.store import Store
from cds_service.usecases.engine import load_library
from cds_service.usecases.services import Services

log = logging.getLogger("cds_service")
AUTH_OFF_BANNER = "CDS_AUTH=off — requests are NOT authenticated. Local demos only; never expose this service."


def build_services(settings: Settings, *, today: Callable[[], date] | None = None,
                   jwks: JwksProvider | None = None) -> Services:
    library = load_library(settings.revision_effective)
    store = Store(settings.database, pool_size=settings.database_pool_size)
    clients = ClientRegistry.from_file(settings.clients_file) if settings.clients_file else ClientRegistry()
    # The replay store must be the deployment's shared database, so it follows CDS_DATABASE_URL too.
    # One short statement per call (the audit write is longer): half the audit's connections are enough.
    replay: ReplayStore = (PostgresReplayStore(settings.database.location,
                                               pool_size=max(2, settings.database_pool_size // 2))
                           if settings.database.kind == "postgresql"
                           else SqliteReplayStore(settings.database.sqlite_path))
    clock = today or (lambda: settings.policy_date or date.today())
    start_purger(store, settings.audit_retention_days)  # this worker's audit retention thread, after start-up
    return Services(
        settings=settings, library=library, store=store,
        record_cache=RecordCache(ttl_s=settings.record_cache_ttl_s),
        hash_key=store.hash_key(settings.hash_key, settings.generated_hash_key), today=clock,
        clients=clients, jwks=jwks or JwksProvider(), replay=replay,
        dev_allowlist=dev_allowlist(settings.dev_fhir_servers),
        definitions=[ORDER_SELECT, ORDER_SIGN] + ([PATIENT_VIEW] if settings.patient_view else []),
    )


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    settings = settings or Settings.from_env()
    services = services or build_services(settings)
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.url_map.merge_slashes = False  # its redirect (308, HTML) would bypass our OperationOutcome errors
    install_services(app, services)
    request_context.install(app)  # first: every later hook and log line of the call sees the id
    app.register_blueprint(bp)
    app.register_blueprint(admin)
    app.register_blueprint(admin_export)
    # The admin blueprint signs its own session cookie with a random key (security/admin_session.py).
    _install_cors(app, settings)
    install_error_handlers(app)
    install_storage_errors(app)
    metrics.configure(clients=[c.iss for c in services.clients],
                      criteria={r.revision: [c.id for c in r.criteria] for r in services.library.revisions})
    fhir_client.observe_requests(metrics.observe_fhir_request)  # fhir_access may not import observability
    if not settings.auth_on:
        log.warning(AUTH_OFF_BANNER)
    app.wsgi_app = tolerate_slashes(app.wsgi_app)  # type: ignore[method-assign,assignment]
    # gc.freeze() is the process entry point's call (wsgi.py, which serve runs), not the factory's:
    # a factory called by tests or a reloader must not freeze what the caller still allocates and drops.
    return app


def _is_admin_path() -> bool:
    return request.path == "/admin" or request.path.startswith("/admin/")


def _install_cors(app: Flask, settings: Settings) -> None:
    origins = settings.cors_origins

    @app.before_request
    def preflight() -> Response | None:
        if request.method == "OPTIONS" and not _is_admin_path():  # CORS preflight: no JWT needed (contract §3)
            return Response(status=204)
        return None

    @app.after_request
    def cors_headers(response: Response) -> Response:
        if _is_admin_path():  # the admin console is same-origin only: no CORS (issue 10)
            return response
        origin = request.headers.get("Origin")
        if "*" in origins:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return response


def serve(host: str, port: int) -> int:
    """The production server (gunicorn, gevent workers; cds_service/server/), as deploy/ and the container run it."""
    from cds_service.server.runner import exec_server, preflight

    try:
        settings = preflight(host, port)
    except Exception as exc:  # configuration errors: one clear line, no stack trace
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    if not settings.auth_on:
        print(f"\n  !!! {AUTH_OFF_BANNER}\n", file=sys.stderr)
    print(f"CDS Hooks discovery: {settings.base_url}/cds-services", flush=True)
    exec_server(host, port)
    return 0  # not reached: exec_server replaces this process
