"""Issue 10: a body that misses its deadline (408) is a refused call like any other, so it is in the refusal
audit (CRD: every call is logged) with its class, route and verified client, never its bytes.

Over real HTTP on loopback against `python -m cds_service serve`; one dripped connection, about 2 s.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator

import pytest

from tests.integration.server.slow_http import open_request, read_response
from tests.support.service_process import EHR_ISS, ServiceProcess, start_service

SIGN = "/cds-services/facet-order-sign"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = start_service(tmp_path_factory.mktemp("late-body"),
                            extra_env={"GUNICORN_WORKERS": "1", "CDS_BODY_TIMEOUT_S": "1"})
    yield running
    running.stop()


def _refusals(service: ServiceProcess) -> list[sqlite3.Row]:
    db = sqlite3.connect(service.log_path.parent / "cds.sqlite3")  # start_service puts the database beside the log
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT method, route, service_id, client, status, reason FROM refusal ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_dripped_body_answered_408_is_in_the_refusal_table(service: ServiceProcess) -> None:
    before = len(_refusals(service))
    sock = open_request(service.base_url, SIGN, authorization=f"Bearer {service.token(SIGN)}",
                        content_length=1000, body_start=b'{"hook": "order-sign", "context": {"patientId": "pat-drip"')
    stop = threading.Event()

    def drip() -> None:  # one byte every 0.3 s: each read is quick, only the absolute deadline ends it
        while not stop.wait(0.3):
            try:
                sock.send(b" ")
            except OSError:
                return

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    try:
        status, _, _ = read_response(sock, timeout=15)
    finally:
        stop.set()
        dripping.join(timeout=5)
        sock.close()
    assert status == 408

    rows = _refusals(service)[before:]
    assert [dict(r) for r in rows] == [{"method": "POST", "route": "/cds-services/<service_id>",
                                        "service_id": "facet-order-sign", "client": EHR_ISS, "status": 408,
                                        "reason": "body-timeout"}]
    # the class only: nothing of what the body carried
    stored = b"".join(f.read_bytes() for f in service.log_path.parent.glob("cds.sqlite3*"))  # with its WAL
    assert b"pat-drip" not in stored
    assert "refused POST /cds-services/<service_id>: 408 body-timeout" in service.log()
