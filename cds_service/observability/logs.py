"""Log format: one JSON object per line (CDS_LOG_FORMAT=json) or plain text, both with the request id.

JSON is for log shippers: every line parses alone, fields are named, and a message cannot forge a second
line (newlines are escaped). Text is for a person reading a terminal (`make run`).
"""
from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from cds_service.observability.plain_logs import PlainFormatter, without_colour
from cds_service.observability.request_context import RequestIdFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
LOG_FORMAT_ENV = "CDS_LOG_FORMAT"
# gunicorn's access-log atoms worth a field of their own (glogging passes them as the record's args).
_ACCESS_ATOMS = {"m": "method", "U": "path", "s": "status", "M": "duration_ms", "{x-request-id}o": "request_id"}
# Fields a log call may pass as `extra=` (the hook call's line: its decision and client; a refusal: its class),
# copied as named fields so a log search need not parse the message. Only these: never an arbitrary attribute.
EXTRA_FIELDS = ("hook", "client", "decision", "duration_ms", "status", "reason")
# Probes and scrapes: every few seconds from every load balancer and Prometheus. Their access lines would
# drown the calls, so a successful one is logged at DEBUG only (GUNICORN_LOGLEVEL=debug shows them).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": without_colour(record.getMessage()),  # no colour codes from Werkzeug
            "request_id": getattr(record, "request_id", "-"),
        }
        for field in EXTRA_FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            for atom, field in _ACCESS_ATOMS.items():
                if atom in record.args and record.args[atom] not in ("-", None):
                    line[field] = record.args[atom]
        if record.exc_info:  # kept, but as one escaped field: still one line
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class QuietProbes(logging.Filter):
    """On gunicorn's access handler: a 2xx/3xx line for /healthz, /readyz or /metrics becomes DEBUG.

    It is dropped unless the gunicorn.error logger (GUNICORN_LOGLEVEL) is at DEBUG; a failing probe (a 503
    readiness while the database is down) keeps its INFO line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, dict) else {}
        if args.get("U") not in QUIET_PATHS or not str(args.get("s", "")).startswith(("2", "3")):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("gunicorn.error").isEnabledFor(logging.DEBUG)


def log_format(default: str) -> str:
    chosen = os.environ.get(LOG_FORMAT_ENV, "").strip().lower() or default
    if chosen not in ("json", "text"):
        raise ValueError(f"{LOG_FORMAT_ENV} must be 'json' or 'text', not {chosen!r}")
    return chosen


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else PlainFormatter(TEXT_FORMAT)


def configure(kind: str, level: int = logging.INFO) -> None:
    """The development server's logging: one stderr handler on the root logger."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
