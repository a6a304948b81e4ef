from __future__ import annotations

import json
import logging

import pytest

from cds_service.observability.lifecycle import drain_seconds
from cds_service.observability.logs import JsonFormatter


def test_a_json_log_line_stays_one_line_whatever_the_message() -> None:
    record = logging.LogRecord("cds_service.api", logging.WARNING, __file__, 1, "forged\n{\"level\": \"%s\"}",
                               ("INFO",), None)
    record.request_id = "r-1"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING" and parsed["request_id"] == "r-1"
    assert parsed["message"] == 'forged\n{"level": "INFO"}'


@pytest.mark.parametrize(("raw", "seconds"), [("", 0.0), ("0", 0.0), ("10", 10.0), ("2.5", 2.5)])
def test_drain_seconds_accepted(raw: str, seconds: float) -> None:
    assert drain_seconds({"CDS_DRAIN_SECONDS": raw}) == seconds


@pytest.mark.parametrize("raw", ["-1", "301", "ten", "nan"])
def test_drain_seconds_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="CDS_DRAIN_SECONDS"):
        drain_seconds({"CDS_DRAIN_SECONDS": raw})
