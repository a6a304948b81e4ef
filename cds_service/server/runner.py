"""`python -m cds_service serve --host H --port P`: check the configuration, then become the production server.

The process execs gunicorn (same pid: signals such as SIGTERM reach its master), with the settings of
cds_service/server/gunicorn_config.py, which is what deploy/ and the container run. A fresh interpreter
matters for gevent: the workers patch the standard library before any of our modules (requests, ssl
contexts, psycopg) is imported, which an in-process start after importing the app could not promise.
"""
from __future__ import annotations

import os
import sys

from cds_service.settings import Settings

CONFIG = "python:cds_service.server.gunicorn_config"
APP = "cds_service.wsgi:app"
SERVE_ADDRESS_ENV = "CDS_SERVE_ADDRESS"  # host:port given to `serve`; the workers' default base URL


def gunicorn_command(host: str, port: int) -> list[str]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [sys.executable, "-m", "gunicorn", "-c", CONFIG, "--bind", bind, APP]


def preflight(host: str, port: int) -> Settings:
    """Every configuration error the workers would hit, as one exception here instead of a boot loop there."""
    from cds_service.observability.lifecycle import drain_seconds
    from cds_service.observability.logs import log_format
    from cds_service.security import ClientRegistry
    from cds_service.server.body_deadline import body_timeout_seconds
    from cds_service.usecases.engine import load_library
    settings = Settings.from_env(host=host, port=port)
    load_library(settings.revision_effective)  # malformed policy data: PolicyDataError naming file and criterion
    if settings.clients_file:
        ClientRegistry.from_file(settings.clients_file)
    drain_seconds()
    body_timeout_seconds()
    log_format(default="json")
    if not 0 < port < 65536:
        raise ValueError(f"--port must be 1-65535, not {port}")
    return settings


def exec_server(host: str, port: int) -> None:
    """Replace this process with the gunicorn master (does not return)."""
    env = {**os.environ, SERVE_ADDRESS_ENV: f"{host}:{port}"}
    command = gunicorn_command(host, port)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
