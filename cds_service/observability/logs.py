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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": without_colour(record.getMessage()),  # no colour codes from Werkzeug
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            for atom, field in _ACCESS_ATOMS.items():
                if atom in record.args and record.args[atom] not in ("-", None):
                    line[field] = record.args[atom]
        if record.exc_info:  # kept, but as one escaped field: still one line
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


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
