"""Bounded metric labels, the JSON line's named fields, and probe access lines kept out of the INFO log."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from cds_service.observability import metrics
from cds_service.observability.logs import JsonFormatter, QuietProbes


@pytest.fixture
def configured() -> Iterator[None]:
    metrics.configure(clients=["https://ehr.example"], criteria={"2026-05": ["I.A", "I.B"]})
    yield
    metrics.configure(clients=[], criteria={})


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_client_label_is_a_configured_iss_or_one_of_two_fixed_words(configured: None) -> None:
    assert metrics.client_label("https://ehr.example") == "https://ehr.example"
    assert metrics.client_label(None) == "unknown"
    assert metrics.client_label("https://attacker.example/" + "x" * 500) == "other"


def test_criterion_labels_are_bounded_by_the_policy(configured: None) -> None:
    before = value("cds_criterion_results_total", hook="h-unit", revision="2026-05", criterion="other",
                   result="not-met")
    metrics.count_criteria("h-unit", "2026-05", [("I.A", "met"), ("made-up", "not-met"), ("I.B", "bogus")])
    assert value("cds_criterion_results_total", hook="h-unit", revision="2026-05", criterion="I.A", result="met") >= 1
    assert value("cds_criterion_results_total", hook="h-unit", revision="2026-05", criterion="other",
                 result="not-met") == before + 1
    assert value("cds_criterion_results_total", hook="h-unit", revision="2026-05", criterion="I.B", result="other") >= 1
    metrics.count_criteria("h-unit", "1999", [("I.A", "met")])
    assert value("cds_criterion_results_total", hook="h-unit", revision="other", criterion="other", result="met") >= 1


def test_fhir_request_resource_type_is_bounded() -> None:
    before = value("cds_fhir_request_duration_seconds_count", resource_type="other", outcome="error")
    metrics.observe_fhir_request("Patient/123?name=Smith", "error", 0.01)
    assert value("cds_fhir_request_duration_seconds_count", resource_type="other", outcome="error") == before + 1


def test_build_info_names_the_version_and_the_revisions(configured: None) -> None:
    assert value("cds_build_info", version=metrics.package_version(), policy_revisions="2026-05") == 1


def _access(path: str, status: str) -> logging.LogRecord:
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(U)s %(s)s", None, None)
    record.args = {"U": path, "s": status, "m": "GET"}  # how gunicorn's glogging passes its atoms
    return record


@pytest.fixture
def gunicorn_level() -> Iterator[logging.Logger]:
    logger = logging.getLogger("gunicorn.error")
    old = logger.level
    yield logger
    logger.setLevel(old)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_a_successful_probe_is_not_logged_at_info(path: str, gunicorn_level: logging.Logger) -> None:
    gunicorn_level.setLevel(logging.INFO)
    assert QuietProbes().filter(_access(path, "200")) is False
    gunicorn_level.setLevel(logging.DEBUG)
    record = _access(path, "200")
    assert QuietProbes().filter(record) is True and record.levelname == "DEBUG"


def test_a_failing_probe_and_a_hook_call_keep_their_info_line(gunicorn_level: logging.Logger) -> None:
    gunicorn_level.setLevel(logging.INFO)
    failing = _access("/readyz", "503")
    assert QuietProbes().filter(failing) is True and failing.levelname == "INFO"
    assert QuietProbes().filter(_access("/cds-services/facet-order-sign", "200")) is True
    assert QuietProbes().filter(_access("/healthz/../cds-services", "200")) is True


def test_named_fields_of_a_call_line_and_only_those() -> None:
    record = logging.LogRecord("cds_service.usecases", logging.INFO, __file__, 1, "call", None, None)
    record.__dict__.update(decision="covered", client="https://ehr.example", patient_id="raw-id")
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["decision"] == "covered" and parsed["client"] == "https://ehr.example"
    assert "patient_id" not in parsed  # an attribute not on the list never becomes a field
