"""The request id over HTTP: echoed or generated, on the call's log lines, in its audit row; JSON logs under gunicorn."""
from __future__ import annotations

import json
import re
import signal
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario
from tests.support.service_process import EHR_ISS, ServiceProcess, start_gunicorn, start_service

REPO = Path(__file__).resolve().parents[3]
ORDER_SIGN = "facet-order-sign"
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> ServiceProcess:
    svc = start_service(tmp_path_factory.mktemp("request-id"))
    yield svc
    svc.stop()


def audit_row(service: ServiceProcess, hook_instance: str) -> tuple[str | None, str]:
    with sqlite3.connect(service.log_path.parent / "cds.sqlite3") as db:
        return db.execute("SELECT request_id, client FROM audit WHERE hook_instance = ?", (hook_instance,)).fetchone()


def test_a_sane_request_id_is_kept_logged_and_audited(service: ServiceProcess) -> None:
    body = hook_body(scenario("dx-four-levels"), "order-sign")
    response = service.hook(ORDER_SIGN, body, headers={"X-Request-ID": "ehr-req.42_A-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "ehr-req.42_A-1"
    assert audit_row(service, body["hookInstance"]) == ("ehr-req.42_A-1", EHR_ISS)
    (call_line,) = [line for line in service.log().splitlines() if body["hookInstance"] in line]
    assert "[ehr-req.42_A-1]" in call_line  # the call's line names its request id, client and decision
    assert f"client={EHR_ISS}" in call_line and "decisions=not-covered" in call_line


@pytest.mark.parametrize("offered", ["x" * 65, "has space", "semi;colon", "new\\nline", ""])
def test_an_unusable_request_id_is_replaced(service: ServiceProcess, offered: str) -> None:
    body = hook_body(scenario("dx-four-levels"), "order-sign")
    response = service.hook(ORDER_SIGN, body, headers={"X-Request-ID": offered})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    assert audit_row(service, body["hookInstance"])[0] == response.headers["X-Request-ID"]
    assert offered not in service.log() or offered == ""


def test_refusals_and_unknown_paths_get_an_id_too(service: ServiceProcess) -> None:
    refused = service.hook(ORDER_SIGN, hook_body(scenario("dx-four-levels"), "order-sign"), auth=False)
    assert refused.status_code == 401 and GENERATED.fullmatch(refused.headers["X-Request-ID"])
    missing = service.get("/no-such-path", headers={"X-Request-ID": "probe-1"})
    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "probe-1"


def test_gunicorn_logs_one_json_object_per_line_tied_by_request_id(tmp_path: Path) -> None:
    gunicorn = start_gunicorn(tmp_path, workers=1, extra_env={"CDS_POLICY_DATE": "2026-11-20"})
    process, base, log_path = gunicorn.process, gunicorn.base_url, gunicorn.log_path
    try:
        body = hook_body(scenario("dx-four-levels"), "order-sign")
        response = requests.post(f"{base}/cds-services/{ORDER_SIGN}", json=body, timeout=20,
                                 headers={"X-Request-ID": "trace-7"})
        assert response.status_code == 200 and response.headers["X-Request-ID"] == "trace-7"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        gunicorn.stop()

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]  # every line is JSON
    of_call = [line for line in lines if line["request_id"] == "trace-7"]
    app_line = next(line for line in of_call if line["logger"].startswith("cds_service.usecases"))
    assert body["hookInstance"] in app_line["message"] and "decisions=not-covered" in app_line["message"]
    access = next(line for line in of_call if line["logger"] == "gunicorn.access")
    assert access["status"] == "200" and access["path"] == f"/cds-services/{ORDER_SIGN}"
    with sqlite3.connect(tmp_path / "cds.sqlite3") as db:
        assert db.execute("SELECT request_id FROM audit WHERE hook_instance = ?",
                          (body["hookInstance"],)).fetchone() == ("trace-7",)
