"""Issue 10: a body that misses its deadline (408) is a refused call like any other, so it is in the refusal
audit (CRD: every call is logged) with its class, route and verified client, never its bytes.

Over real HTTP on loopback against `python -m cds_service serve`; one connection dripping its body, about 3 s.
"""
from __future__ import annotations

import sqlite3

from tests.integration.server.slow_http import dripping, open_request, read_response
from tests.support.service_process import EHR_ISS, ServiceProcess

SIGN = "/cds-services/facet-order-sign"


def _refusals(service: ServiceProcess) -> list[sqlite3.Row]:
    db = sqlite3.connect(service.log_path.parent / "cds.sqlite3")  # start_service puts the database beside the log
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT method, route, service_id, client, status, reason FROM refusal ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_dripped_body_answered_408_is_in_the_refusal_table(two_workers: ServiceProcess) -> None:
    service = two_workers  # its body deadline is 2 s
    before = len(_refusals(service))
    sock = open_request(service.base_url, SIGN, authorization=f"Bearer {service.token(SIGN)}",
                        content_length=1000, body_start=b'{"hook": "order-sign", "context": {"patientId": "pat-drip"')
    try:
        with dripping(sock, every_s=0.3):
            status, _, _ = read_response(sock, timeout=15)
    finally:
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
