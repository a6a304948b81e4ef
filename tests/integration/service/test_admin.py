"""The admin dashboard: off without a token, protected with one, and it explains past decisions."""
from __future__ import annotations

import pytest
import requests

from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario
from tests.support.service_process import start_service

ADMIN = "s3cret-admin-token"


@pytest.fixture(scope="module")
def admin_service(tmp_path_factory, fhir_server):
    svc = start_service(tmp_path_factory.mktemp("admin"), fhir_servers=[fhir_server], extra_env={"CDS_ADMIN_TOKEN": ADMIN})
    yield svc
    svc.stop()


def test_admin_is_disabled_without_a_token(service):
    assert service.get("/admin").status_code == 404
    assert service.get("/admin/api/audit").status_code == 404


def test_admin_api_needs_the_token(admin_service):
    assert admin_service.get("/admin/api/audit").status_code == 401
    assert admin_service.get("/admin/api/audit", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_past_decision_can_be_explained_by_its_assertion_id(admin_service):
    body = admin_service.hook("facet-order-sign", hook_body(scenario("dx-four-levels"), "order-sign")).json()
    ext = body["systemActions"][0]["resource"]["extension"][-1]
    assertion_id = next(p["valueString"] for p in ext["extension"] if p["url"] == "coverage-assertion-id")
    auth = {"Authorization": f"Bearer {ADMIN}"}
    found = admin_service.get(f"/admin/api/assertions/{assertion_id}", headers=auth).json()
    assert found["decision"] == "not-covered"
    assert {"id": "I.A.1.d", "result": "not-met"}.items() <= next(c for c in found["criteria"] if c["id"] == "I.A.1.d").items()
    audit = admin_service.get("/admin/api/audit?limit=5", headers=auth).json()["entries"]
    assert audit[0]["decisions"][0]["notMet"] == ["I.A.1.d"]
    assert scenario("dx-four-levels")["patientId"] not in str(audit)  # hashed, never the id


def test_dashboard_login_then_table(admin_service):
    browser = requests.Session()
    page = browser.get(f"{admin_service.base_url}/admin").text
    assert "Admin token" in page and 'id="calls"' not in page
    assert browser.post(f"{admin_service.base_url}/admin/login", data={"token": "nope"}).status_code == 401
    browser.post(f"{admin_service.base_url}/admin/login", data={"token": ADMIN})
    page = browser.get(f"{admin_service.base_url}/admin").text
    assert '<table id="calls">' in page and "order-sign" in page
