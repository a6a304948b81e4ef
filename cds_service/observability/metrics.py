"""Prometheus metrics; every metric name lives here. Multiprocess-safe under gunicorn (deploy/gunicorn.conf.py).

Every label is bounded: hooks and statuses by the service, clients by the clients file (anything else is
"unknown"), FHIR resource types by the evidence the service reads, criteria and revisions by the policy data.
An unbounded label (a raw `iss`, a patient id, a URL) would grow Prometheus without limit and can leak PHI.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

UNKNOWN = "unknown"  # no verified client (unauthenticated, refused, CDS_AUTH=off)
OTHER = "other"  # a value outside the configured set: never used as a label as-is

HOOK_CALLS = Counter("cds_hook_calls_total", "Hook calls answered, by hook, HTTP status and client",
                     ["hook", "status", "client"])
DECISIONS = Counter(
    "cds_decisions_total", "Procedure decisions, by hook, revision and decision", ["hook", "revision", "decision"]
)
CRITERIA = Counter(
    "cds_criterion_results_total", "Criterion results of the procedure decisions, by hook, revision and criterion",
    ["hook", "revision", "criterion", "result"],
)
# Most calls answer in 5-100 ms (prefetched record: ~10 ms; fetched: one EHR round trip more), so the buckets
# are dense there: p95/p99 from histogram_quantile are only as precise as the buckets around them.
LATENCY_BUCKETS = (0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1,
                   0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HOOK_LATENCY = Histogram("cds_hook_duration_seconds", "Time to answer a hook call", ["hook"],
                         buckets=LATENCY_BUCKETS)
FHIR_FETCH_LATENCY = Histogram(
    "cds_fhir_request_duration_seconds", "One HTTP request to an EHR's FHIR server, by resource type and outcome",
    ["resource_type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
FHIR_FAILURES = Counter("cds_fhir_failures_total", "Hook calls whose FHIR data could not be had", ["hook"])
AUTH_FAILURES = Counter("cds_auth_failures_total", "Requests refused with 401/403", ["status"])
DATABASE_ERRORS = Counter("cds_database_errors_total",
                          "Database failures: calls answered 503, refusals not recorded, readiness checks failed",
                          ["where"])
FEEDBACK = Counter("cds_feedback_total", "Feedback items received, by outcome", ["outcome"])
SKIPPED_RESOURCES = Counter("cds_skipped_resources_total", "Malformed FHIR resources skipped")
ADMIN_SIGN_INS = Counter("cds_admin_sign_ins_total", "Admin console sign-in attempts, by outcome "
                         "(success, wrong-token, rate-limited)", ["outcome"])
# Gauges in multiprocess mode need a rule to combine the workers' values: the last readiness answer any live
# worker gave; build info is the same in every worker.
# Under gunicorn it is absent until the first /readyz (nothing has been checked yet), not a misleading 0.
READY = Gauge("cds_ready", "1 when the last /readyz answer was ready, 0 when not ready or draining",
              multiprocess_mode="livemostrecent")
BUILD_INFO = Gauge("cds_build_info", "Always 1: the package version and the policy revisions loaded",
                   ["version", "policy_revisions"], multiprocess_mode="livemax")

# The FHIR resource types the service reads (README, "For EHR integrators"); any other is counted as "other".
FHIR_TYPES = frozenset({"Patient", "Coverage", "Condition", "Procedure", "MedicationStatement", "MedicationRequest",
                        "AllergyIntolerance", "Observation", "QuestionnaireResponse", "Device"})
RESULTS = frozenset({"met", "not-met", "needs-documentation", "not-applicable"})


class _Bounds:
    """What the running service knows, set once per process by `configure` (app.create_app)."""

    def __init__(self) -> None:
        self.clients: frozenset[str] = frozenset()
        self.criteria: dict[str, frozenset[str]] = {}  # revision id -> its criterion ids


_BOUNDS = _Bounds()


def configure(*, clients: Iterable[str], criteria: Mapping[str, Iterable[str]]) -> None:
    """Trusted `iss` values (the clients file) and each revision's criterion ids; sets the build-info metric."""
    _BOUNDS.clients = frozenset(clients)
    _BOUNDS.criteria = {revision: frozenset(ids) for revision, ids in criteria.items()}
    BUILD_INFO.labels(package_version(), ",".join(sorted(_BOUNDS.criteria))).set(1)


def package_version() -> str:
    try:
        return metadata.version("facet-cds")
    except metadata.PackageNotFoundError:  # run from a source tree without `pip install`
        return UNKNOWN


def client_label(iss: str | None) -> str:
    """The client's `iss` when the clients file names it, "unknown" when there is none, else "other"."""
    if iss is None:
        return UNKNOWN
    return iss if iss in _BOUNDS.clients else OTHER


def observe_hook_call(hook: str, status: int, seconds: float, client_iss: str | None) -> None:
    HOOK_CALLS.labels(hook, str(status), client_label(client_iss)).inc()
    HOOK_LATENCY.labels(hook).observe(seconds)


def observe_fhir_request(resource_type: str, outcome: str, seconds: float) -> None:
    """One FHIR HTTP request (installed as fhir_access.client's observer): outcome `ok` or `error`."""
    kind = resource_type if resource_type in FHIR_TYPES else OTHER
    FHIR_FETCH_LATENCY.labels(kind, outcome if outcome in ("ok", "error") else OTHER).observe(seconds)


def count_criteria(hook: str, revision: str | None, results: Iterable[tuple[str, str]]) -> None:
    """(criterion id, result) pairs of one procedure decision; ids the revision does not define count as "other"."""
    known = _BOUNDS.criteria.get(revision or "", frozenset())
    revision_label = revision if revision in _BOUNDS.criteria else OTHER
    for criterion, result in results:
        key = (hook, revision_label, criterion if criterion in known else OTHER, result if result in RESULTS else OTHER)
        counter = _CRITERION_COUNTERS.get(key)
        if counter is None:
            counter = _CRITERION_COUNTERS[key] = CRITERIA.labels(*key)
        counter.inc()


# ~30 criterion results per call: each label set's counter is looked up once, not validated again per result
# (labels() checks and locks on every call). Bounded like the labels themselves.
_CRITERION_COUNTERS: dict[tuple[str, str, str, str], Any] = {}


def render() -> tuple[bytes, str]:
    """The metrics page; under gunicorn with PROMETHEUS_MULTIPROC_DIR, aggregated over all workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
