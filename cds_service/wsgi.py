"""WSGI entry point for production servers: `gunicorn -c deploy/gunicorn.conf.py cds_service.wsgi:app`.

Settings come from the environment (deploy/env.example). Each gunicorn worker imports this module and
builds its own app; they share the database (audit, jti replay store) and the metrics directory.
"""
from __future__ import annotations

import gc
import logging

from cds_service.app import create_app
from cds_service.settings import Settings

log = logging.getLogger("cds_service")

settings = Settings.from_env()
if settings.auth_on and not settings.public_base_url:
    # JWT `aud` is the URL the client called; without this it is compared with http://127.0.0.1:8090
    log.warning("CDS_PUBLIC_BASE_URL is not set: every client JWT will be refused (aud mismatch)")
app = create_app(settings)
# Everything built so far lives as long as the worker: keep it out of the garbage collector's scans, which
# otherwise show up as latency spikes on requests that allocate many small dicts (gunicorn: also post_worker_init).
gc.freeze()
