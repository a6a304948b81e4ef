"""Prometheus metrics; every metric name lives here. Multiprocess-safe under gunicorn (deploy/gunicorn.conf.py)."""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

HOOK_CALLS = Counter("cds_hook_calls_total", "Hook calls answered, by hook and HTTP status", ["hook", "status"])
DECISIONS = Counter(
    "cds_decisions_total", "Procedure decisions, by hook, revision and decision", ["hook", "revision", "decision"]
)
HOOK_LATENCY = Histogram(
    "cds_hook_duration_seconds", "Time to answer a hook call", ["hook"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FHIR_FAILURES = Counter("cds_fhir_failures_total", "Hook calls whose FHIR data could not be had", ["hook"])
AUTH_FAILURES = Counter("cds_auth_failures_total", "Requests refused with 401/403", ["status"])
FEEDBACK = Counter("cds_feedback_total", "Feedback items received, by outcome", ["outcome"])
SKIPPED_RESOURCES = Counter("cds_skipped_resources_total", "Malformed FHIR resources skipped")
ADMIN_SIGN_INS = Counter("cds_admin_sign_ins_total", "Admin console sign-in attempts, by outcome "
                         "(success, wrong-token, rate-limited)", ["outcome"])


def render() -> tuple[bytes, str]:
    """The metrics page; under gunicorn with PROMETHEUS_MULTIPROC_DIR, aggregated over all workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
