"""PostgreSQL down under the production server (gunicorn, 2 workers), seen through /metrics and the log.

A cluster of its own: the test stops and starts it. While it is down, hook calls are 503 and /readyz is 503;
/metrics (which needs no database) counts both, `cds_ready` drops to 0, and it comes back when PostgreSQL does.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.deploy.gunicorn_stack import Gunicorn, start_gunicorn
from tests.integration.postgres.cluster import PostgresCluster, start_cluster, why_no_cluster
from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario

ORDER_SIGN = "facet-order-sign"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    reason = why_no_cluster()
    if reason:
        pytest.skip(reason)
    own = start_cluster()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, cluster: PostgresCluster) -> Iterator[Gunicorn]:
    url = cluster.create_database("metrics")
    svc = start_gunicorn(tmp_path_factory.mktemp("pg-metrics"), workers=2, extra_env={"CDS_DATABASE_URL": url})
    yield svc
    svc.stop()


def scrape(server: Gunicorn) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = server.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def call(server: Gunicorn) -> int:
    return server.hook(ORDER_SIGN, hook_body(scenario("dx-four-levels"), "order-sign")).status_code


def test_a_database_outage_shows_in_the_metrics_and_clears(server: Gunicorn, cluster: PostgresCluster) -> None:
    assert call(server) == 200 and server.get("/readyz").status_code == 200
    assert scrape(server)[("cds_ready", ())] == 1
    cluster.stop_server()
    try:
        assert [call(server) for _ in range(3)] == [503] * 3
        assert server.get("/readyz").status_code == 503
        down = scrape(server)
    finally:
        cluster.start_server()
    assert down[("cds_database_errors_total", (("where", "request"),))] == 3
    assert down[("cds_database_errors_total", (("where", "readiness"),))] >= 1
    assert down[("cds_ready", ())] == 0
    # the JWT's jti could not be checked against the replay store: the client stays unverified, "unknown"
    assert down[("cds_hook_calls_total", (("client", "unknown"), ("hook", "order-sign"), ("status", "503")))] == 3

    assert call(server) == 200 and server.get("/readyz").status_code == 200
    back = scrape(server)
    assert back[("cds_ready", ())] == 1
    assert back[("cds_database_errors_total", (("where", "request"),))] == 3  # no new errors once it is back
    database_lines = [line for line in server.log_lines() if "database unavailable" in line["message"]]
    assert len(database_lines) == 3 and {line["level"] for line in database_lines} == {"ERROR"}
    # a failing readiness probe keeps its access line at INFO (only successful probes are quiet)
    probes = [line for line in server.log_lines() if line["logger"] == "gunicorn.access" and line["path"] == "/readyz"]
    assert [(line["status"], line["level"]) for line in probes] == [("503", "INFO")]
