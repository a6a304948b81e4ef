"""gunicorn settings for facet-cds, the production server: `python -m cds_service serve --host H --port P` runs
`gunicorn -c python:cds_service.server.gunicorn_config cds_service.wsgi:app`; deploy/gunicorn.conf.py is this file.

Every value can be changed from the environment (GUNICORN_* below); see deploy/README.md.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cds_service.observability.lifecycle import drain_seconds
from cds_service.observability.logs import TEXT_FORMAT, log_format

# Loopback unless told otherwise: the container image sets GUNICORN_BIND=0.0.0.0:8090.
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8090")]
# The engine is CPU-bound Python: about one worker per core.
workers = int(os.environ.get("GUNICORN_WORKERS", str(min(os.cpu_count() or 1, 4))))
# gevent: every connection is a greenlet, so a client that sends its body one byte at a time holds a socket
# and a few KB, never one of a handful of threads (with gthread, 12 such clients took every thread and
# /healthz timed out). The waits on EHR FHIR servers and the database yield to other calls the same way
# (requests, the fetch pool, the fetch watchdog and psycopg >= 3.1.14 all run on gevent's patched stdlib).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # only for GUNICORN_WORKER_CLASS=gthread
# Above the FHIR budget (CDS_FHIR_TIMEOUT_S, 3 s): a stuck worker is killed, a slow EHR is not.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM first drains for CDS_DRAIN_SECONDS (post_worker_init below); the grace period comes on top.
_drain_s = drain_seconds()
graceful_timeout = 20 + int(_drain_s + 0.999)
# With gevent workers this is also the deadline for a request's line and headers (the whole of them, not per
# read): a client that drips its headers is dropped after 5 s. The body has its own, CDS_BODY_TIMEOUT_S.
keepalive = 5
# One header line may be up to the app's limit for all headers (api/routes.py MAX_HEADER_BYTES, 16 KiB), so
# that oversized headers (an 11 KiB junk JWT, say) reach the app and get its 401/431 OperationOutcome.
# Larger single lines still get gunicorn's own plain 431.
limit_request_field_size = 16 * 1024 + 1024
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"  # heartbeat files off a possibly slow container overlay disk

# Access log: method, path without the query string, status, size, duration, request id. No query strings,
# bodies, referers or user agents: they can carry patient identifiers.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# One JSON object per line by default (CDS_LOG_FORMAT=text for people); every line carries the request id.
# The application's own log (cds_service.*: one line per hook call, warnings) goes to stderr with gunicorn's.
_log_format = log_format(default="json")
_handler = {"class": "logging.StreamHandler", "formatter": _log_format, "filters": ["request_id"]}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cds_service.observability.request_context.RequestIdFilter"},
                "quiet_probes": {"()": "cds_service.observability.logs.QuietProbes"}},
    "formatters": {"json": {"()": "cds_service.observability.logs.JsonFormatter"},
                   "text": {"format": TEXT_FORMAT}},
    "handlers": {"console": {**_handler, "stream": "ext://sys.stdout",
                             "filters": ["request_id", "quiet_probes"]},  # probes/scrapes: DEBUG only
                 "error_console": {**_handler, "stream": "ext://sys.stderr"}},
    "root": {"level": loglevel.upper(), "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}

# Prometheus multiprocess mode: each worker writes its metrics to files in this directory and /metrics
# adds them up (cds_service/metrics.py). It must be set before any worker imports prometheus_client,
# so it is set here, in the master, and inherited by the workers.
_created_metrics_dir: str | None = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _created_metrics_dir = tempfile.mkdtemp(prefix="facet-cds-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir

# No CDS_HASH_KEY(_FILE): one random key for all workers of this server (never stored; the service warns).
if not (os.environ.get("CDS_HASH_KEY", "").strip() or os.environ.get("CDS_HASH_KEY_FILE", "").strip()):
    os.environ.setdefault("CDS_GENERATED_HASH_KEY", secrets.token_hex(32))


def on_starting(server: Any) -> None:
    """Start from empty metric files: counters left by an earlier run would be added to ours."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def post_worker_init(worker: Any) -> None:
    """With CDS_DRAIN_SECONDS, a worker's SIGTERM first drains (/readyz 503, calls still answered)."""
    from cds_service.observability.lifecycle import drain_on_sigterm

    seconds = _drain_s
    if seconds:
        def stop() -> None:
            worker.alive = False  # what gunicorn's own SIGTERM handler does: finish in-flight calls, exit

        drain_on_sigterm(seconds, stop)
        # The handler starts a timer, which blocks: not allowed in gevent's event loop, so it runs in a greenlet.
        if "gevent" in worker.cfg.worker_class_str:
            import signal

            import gevent

            handler = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, lambda signum, frame: gevent.spawn(handler, signum, frame))


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must stop counting; its counters stay in the totals.

    What prometheus_client's multiprocess.mark_process_dead does (its live modes all start with "live"),
    without importing prometheus_client into the master: this runs in a SIGCHLD handler, where two workers
    exiting together re-entered that import half-way; and a module imported here would be inherited by
    later workers before gevent patches threading (prometheus_client binds threading.Lock at import).
    """
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"gauge_live*_{worker.pid}.db"):
        stale.unlink(missing_ok=True)


def on_exit(server: Any) -> None:
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
