"""Metrics and logs of the production server as an admin sees them: gunicorn, 3 workers, a clients file.

One server run: signed prefetched calls, calls that fetch from a (slow) FHIR server, unauthenticated calls,
probes and scrapes. Then /metrics (whichever worker answers it) must add up to what was sent, with bounded
labels, and the JSON log must carry the decision and client, refusals at WARNING and no probe lines.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.deploy.gunicorn_stack import Gunicorn, start_gunicorn
from tests.support.hook_bodies import hook_body
from tests.support.scenarios import record_resources, scenario
from tests.support.service_process import EHR_ISS
from tests.support.stub_fhir import Fault, StubFhirServer

ORDER_SIGN = "facet-order-sign"
SCENARIO = "dx-four-levels"
PREFETCHED, FETCHED, REFUSED, PROBES = 24, 6, 4, 5


@pytest.fixture(scope="module")
def fhir() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        server.add(*record_resources(scenario(SCENARIO)))
        # each fetching call holds its worker (one connection at a time, below) for 0.4 s: concurrent calls must
        # go to other workers
        server.inject("Condition", Fault.delay(0.4))
        yield server


@pytest.fixture(scope="module")
def run(tmp_path_factory, fhir: StubFhirServer) -> Iterator[tuple[Gunicorn, dict[str, float], list[dict]]]:
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"), workers=3, fhir_servers=[fhir.base_url],
                            extra_env={"GUNICORN_WORKER_CONNECTIONS": "1", "GUNICORN_THREADS": "1"})
    try:
        def prefetched(_: int) -> int:
            return server.hook(ORDER_SIGN, hook_body(scenario(SCENARIO), "order-sign")).status_code

        def fetched(i: int) -> int:  # a token of its own: the record cache cannot answer for the FHIR server
            body = hook_body(scenario(SCENARIO), "order-sign", fhir_server=fhir.base_url, token=f"tok-{i}",
                             prefetch=False)
            return server.hook(ORDER_SIGN, body).status_code

        with ThreadPoolExecutor(6) as pool:
            assert set(pool.map(fetched, range(FETCHED))) == {200}
            assert set(pool.map(prefetched, range(PREFETCHED))) == {200}
        for _ in range(REFUSED):
            assert server.hook(ORDER_SIGN, hook_body(scenario(SCENARIO), "order-sign"), auth=False).status_code == 401
        for _ in range(PROBES):
            assert server.get("/healthz").ok and server.get("/readyz").ok
        scrape = server.get("/metrics")
        assert scrape.ok
        samples = {_key(s.name, s.labels): s.value for family in text_string_to_metric_families(scrape.text)
                   for s in family.samples}
    finally:
        server.stop()  # SIGTERM: the log is complete once it returns
    yield server, samples, server.log_lines()


def _key(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _sum(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in samples.items() if k.split("{")[0] == name and all(w in k for w in wanted))


def test_several_workers_answered_and_metrics_add_up_over_them(run) -> None:
    server, samples, _ = run
    pids = {path.stem.rsplit("_", 1)[-1] for path in Path(server.metrics_dir).glob("counter_*.db")}
    assert len(pids) >= 2, pids  # the totals below are sums over several workers' files
    answered = PREFETCHED + FETCHED
    assert _sum(samples, "cds_hook_calls_total", hook="order-sign", status="200", client=EHR_ISS) == answered
    assert _sum(samples, "cds_hook_calls_total", hook="order-sign", status="401", client="unknown") == REFUSED
    assert _sum(samples, "cds_hook_duration_seconds_count", hook="order-sign") == answered + REFUSED
    assert _sum(samples, "cds_decisions_total", hook="order-sign", revision="2026-05", decision="not-covered") == answered
    assert _sum(samples, "cds_auth_failures_total", status="401") == REFUSED


def test_latency_buckets_are_fine_between_5_and_100_ms(run) -> None:
    _, samples, _ = run
    bounds = sorted({float(k.split('le="')[1].split('"')[0]) for k in samples
                     if k.startswith("cds_hook_duration_seconds_bucket") and 'le="+Inf"' not in k})
    assert len([b for b in bounds if 0.005 <= b <= 0.1]) >= 10
    assert max(later / earlier for earlier, later in zip(bounds, bounds[1:], strict=False) if later <= 0.1) <= 1.6


def test_criterion_results_match_the_audit_trail(run) -> None:
    server, samples, _ = run
    with sqlite3.connect(server.database) as db:
        rows = [json.loads(r[0]) for r in db.execute("SELECT decisions FROM audit WHERE status = 200")]
    assert len(rows) == PREFETCHED + FETCHED
    (decision,) = rows[0]
    assert decision["notMet"], "the scenario has a criterion not met"
    for criterion in decision["notMet"]:
        assert _sum(samples, "cds_criterion_results_total", revision="2026-05", criterion=criterion,
                    result="not-met") == len(rows)
    # every label comes from the policy: no "other" criterion or revision
    assert _sum(samples, "cds_criterion_results_total", criterion="other") == 0


def test_fhir_request_latency_by_resource_type_counts_every_request_the_server_saw(run, fhir: StubFhirServer) -> None:
    _, samples, _ = run
    by_type: dict[str, int] = {}
    for seen in fhir.requests:
        resource_type = seen.path.removeprefix("/fhir/").split("/")[0]
        by_type[resource_type] = by_type.get(resource_type, 0) + 1
    assert by_type.get("Condition") == FETCHED  # each fetching call searched conditions once
    for resource_type, count in by_type.items():
        assert _sum(samples, "cds_fhir_request_duration_seconds_count", resource_type=resource_type) == count
    # the 0.4 s delay shows in the Condition latency: nothing below 0.25 s
    assert _sum(samples, "cds_fhir_request_duration_seconds_bucket", resource_type="Condition", outcome="ok",
                le="0.25") == 0


def test_build_info_and_readiness(run) -> None:
    _, samples, _ = run
    assert samples['cds_build_info{policy_revisions="2019,2024-06,2025-05,2026-05",version="0.1.0"}'] == 1
    assert samples["cds_ready{}"] == 1
    assert _sum(samples, "cds_database_errors_total") == 0


def test_the_calls_line_carries_decision_and_client_refusals_warn_probes_are_quiet(run) -> None:
    _, _, lines = run
    calls = [line for line in lines if line["logger"] == "cds_service.usecases.order_hooks"]
    assert len(calls) == PREFETCHED + FETCHED
    assert all(line["decision"] == "not-covered" and line["client"] == EHR_ISS and line["hook"] == "order-sign"
               for line in calls)
    refusals = [line for line in lines if line.get("reason") == "jwt-refused"]
    assert len(refusals) == REFUSED and {line["level"] for line in refusals} == {"WARNING"}
    assert all(line["status"] == 401 and line["client"] == "unknown" for line in refusals)
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert len([a for a in access if a["path"] == f"/cds-services/{ORDER_SIGN}"]) == PREFETCHED + FETCHED + REFUSED
    assert not [a for a in access if a["path"] in ("/healthz", "/readyz", "/metrics")]


def test_at_debug_level_the_probes_are_logged_at_debug(tmp_path: Path) -> None:
    server = start_gunicorn(tmp_path, workers=1, extra_env={"GUNICORN_LOGLEVEL": "debug"})
    try:
        assert server.get("/healthz").ok and server.get("/metrics").ok
    finally:
        server.stop()
    probes = [line for line in server.log_lines() if line["logger"] == "gunicorn.access"]
    assert {line["path"] for line in probes} == {"/healthz", "/metrics"}  # start-up polled /healthz too
    assert {line["level"] for line in probes} == {"DEBUG"}
