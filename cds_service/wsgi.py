"""WSGI entry point of the production server: `python -m cds_service serve` (gunicorn, cds_service/server/).

Settings come from the environment (deploy/env.example). Each gunicorn worker imports this module and
builds its own app; they share the database (audit, jti replay store) and the metrics directory.
"""
from __future__ import annotations

import gc
import logging
import os
from typing import Any

from cds_service.app import create_app
from cds_service.server.body_deadline import BodyDeadline
from cds_service.server.runner import SERVE_ADDRESS_ENV
from cds_service.settings import Settings

log = logging.getLogger("cds_service")


def _serve_address() -> dict[str, Any]:
    """`serve --host H --port P`: the default public base URL is http://H:P (contract §2)."""
    host, _, port = os.environ.get(SERVE_ADDRESS_ENV, "").rpartition(":")
    return {"host": host, "port": int(port)} if host and port.isdigit() else {}


settings = Settings.from_env(**_serve_address())
if settings.auth_on and not settings.public_base_url and not _serve_address():
    # JWT `aud` is the URL the client called; without this it is compared with http://127.0.0.1:8090
    log.warning("CDS_PUBLIC_BASE_URL is not set: every client JWT will be refused (aud mismatch)")
app = create_app(settings)
# Bodies are read under one absolute deadline (CDS_BODY_TIMEOUT_S): a slow sender gets a 408, not a worker.
app.wsgi_app = BodyDeadline(app.wsgi_app)  # type: ignore[method-assign]
# Everything built so far lives as long as the worker: keep it out of the garbage collector's scans, which
# otherwise show up as latency spikes on requests that allocate many small dicts. `serve` runs this module too.
gc.freeze()
# A cold 1,000-resource request holds ~50k small containers at once: at the default threshold (700) that
# runs ~30 young and some full collections inside the request (+40 ms when a full one hits: issue 12's
# p99). Counted net of frees, 100k lets a request's garbage die by reference count instead.
gc.set_threshold(100_000, 50, 100)
