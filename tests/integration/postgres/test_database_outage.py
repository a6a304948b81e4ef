"""PostgreSQL restarted or down under a running service, over real HTTP.

A cluster of its own (not the session's shared one): these tests stop and start the server.
"""
from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.integration.postgres.cluster import PostgresCluster, start_cluster, why_no_cluster
from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario
from tests.support.service_process import ServiceProcess, start_service

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
def database_url(cluster: PostgresCluster) -> str:
    return cluster.create_database("outage")


@pytest.fixture(scope="module")
def service(tmp_path_factory, database_url: str) -> Iterator[ServiceProcess]:
    svc = start_service(tmp_path_factory.mktemp("outage"), extra_env={"CDS_DATABASE_URL": database_url})
    yield svc
    svc.stop()


@pytest.fixture
def server_up(cluster: PostgresCluster) -> Iterator[None]:
    """Whatever a test did to the server, the next one finds it running."""
    yield
    try:
        psycopg.connect(cluster.url("postgres"), connect_timeout=2).close()
    except psycopg.OperationalError:
        cluster.start_server()


def sign(service: ServiceProcess):
    return service.hook(ORDER_SIGN, hook_body(scenario("dx-four-levels"), "order-sign"))


def audited(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM audit").fetchone()[0])


def test_no_call_fails_after_a_database_restart(service, cluster, database_url, server_up) -> None:
    # Several calls first, so the pools (audit and replay store) hold idle connections the restart kills.
    before = [sign(service).status_code for _ in range(6)]
    assert before == [200] * 6
    rows_before = audited(database_url)

    cluster.stop_server()
    cluster.start_server()

    after = [sign(service) for _ in range(20)]
    assert [r.status_code for r in after] == [200] * 20, [r.text for r in after if r.status_code != 200][:1]
    assert audited(database_url) == rows_before + 20  # every answered call is in the audit
    assert service.get("/readyz").status_code == 200


def test_database_down_is_a_fast_503_then_recovers(service, cluster, database_url, server_up) -> None:
    assert sign(service).status_code == 200
    log_offset = len(service.log())

    cluster.stop_server()
    down = sign(service)
    assert down.status_code == 503
    outcome = down.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert "database is unavailable" in outcome["issue"][0]["diagnostics"]
    assert down.headers["Retry-After"].isdigit()
    ready = service.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
    # Feedback needs the database too: the same answer, not a 500.
    feedback = service.post(f"/cds-services/{ORDER_SIGN}/feedback", {"feedback": [
        {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}]})
    assert feedback.status_code == 503

    outage_log = service.log()[log_offset:]
    assert "Traceback" not in outage_log
    failures = [line for line in outage_log.splitlines() if "database unavailable" in line]
    assert len(failures) == 2  # one line per failed call (hook, feedback); readyz reports, it does not fail

    cluster.start_server()
    assert sign(service).status_code == 200
    assert service.get("/readyz").status_code == 200
