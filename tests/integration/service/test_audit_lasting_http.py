"""The audit that lasts, over real HTTP against `python -m cds_service serve`: issued cards and feedback per
client, refused calls in the audit, the admin export, and the retention purge that runs by itself."""
from __future__ import annotations

import csv
import io
import json
import time
import uuid
from pathlib import Path

import pytest

from cds_service.settings import DatabaseUrl
from cds_service.storage.store import AuditEntry, Store
from tests.support.hook_bodies import hook_body
from tests.support.jwt_factory import KeyPair
from tests.support.scenarios import scenario
from tests.support.service_process import EHR_ISS, ServiceProcess, start_service

ADMIN = "audit-admin-token-0123456789abcdef"
OTHER_ISS = "https://other-ehr.test.example"
SIGN = "/cds-services/facet-order-sign"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
TODAY = time.strftime("%Y-%m-%d", time.gmtime())


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> tuple[ServiceProcess, ServiceProcess, Path]:
    tmp = tmp_path_factory.mktemp("audit-lasting")
    database = tmp / "cds.sqlite3"
    seeded = Store(DatabaseUrl.parse(f"sqlite:///{database}"))  # an older deployment's rows, one past retention
    for instance, age_days in (("expired-call", 40), ("kept-call", 5)):
        audit_id = seeded.record_audit(AuditEntry("order-sign", instance, "facet-order-sign", EHR_ISS, "h", 200, 1.0,
                                                  [{"orders": ["sr-old"]}], card_uuids=(f"card-{instance}",)), [])
        with seeded._db.session() as db:
            db.execute("UPDATE audit SET at = ? WHERE id = ?", (time.time() - age_days * 86400, audit_id))
    key, other = KeyPair.generate("ES384"), KeyPair.generate("ES384")
    clients = [{"iss": EHR_ISS, "jwks": key.jwks(), "fhir_servers": []},
               {"iss": OTHER_ISS, "jwks": other.jwks(), "fhir_servers": []}]
    svc = start_service(tmp, clients=clients, key=key,
                        extra_env={"CDS_ADMIN_TOKEN": ADMIN, "CDS_AUDIT_RETENTION_DAYS": "30"})
    # The same server, signed for as the second client.
    as_other = ServiceProcess(svc.base_url, other, OTHER_ISS, svc.process, svc.log_path)
    yield svc, as_other, database
    svc.stop()


def _item(card: str, outcome: str = "overridden") -> dict:
    return {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-20T10:00:00Z",
            "overrideReason": {"reason": {"code": "clinical-judgment", "system": "https://facet-cds.example.org/x"}}}


def _export(svc: ServiceProcess, fmt: str) -> str:
    response = svc.get(f"/admin/api/audit/export?from={TODAY}&to={TODAY}&format={fmt}", headers=AUTH)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["Content-Disposition"]
    return response.text


def test_the_retention_purge_ran_by_itself_at_start_up(running) -> None:
    _, _, database = running
    store = Store(DatabaseUrl.parse(f"sqlite:///{database}"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        kept = {row["hook_instance"] for row in store.recent_audit(500)}
        if "expired-call" not in kept:
            break
        time.sleep(0.2)
    assert "expired-call" not in kept and "kept-call" in kept  # 40 days old went, 5 days old stayed
    with store._db.session() as db:
        assert [r["card_uuid"] for r in db.rows("SELECT card_uuid FROM issued_card")] == ["card-kept-call"]


def _overridden_total(svc: ServiceProcess) -> float:
    line = next((x for x in svc.get("/metrics").text.splitlines()
                 if x.startswith('cds_feedback_total{outcome="overridden"}')), "_ 0")
    return float(line.split()[-1])


def test_feedback_is_per_client_and_cards_never_issued_are_kept_apart(running) -> None:
    svc, as_other, _ = running
    counted = _overridden_total(svc)
    answer = svc.hook("facet-order-sign", hook_body(scenario("dx-four-levels"), "order-sign")).json()
    card = answer["cards"][0]["uuid"]
    first = svc.post(f"{SIGN}/feedback", {"feedback": [_item(card)]})
    assert first.status_code == 200 and first.json() == {"stored": 1, "duplicates": 0, "unknownCards": 0}
    assert svc.post(f"{SIGN}/feedback", {"feedback": [_item(card)]}).json()["duplicates"] == 1  # a retry
    # Another client sending the very same item is not swallowed as a duplicate; the card was not issued to it.
    other = as_other.post(f"{SIGN}/feedback", {"feedback": [_item(card)]})
    assert other.status_code == 200 and other.json() == {"stored": 1, "duplicates": 0, "unknownCards": 1}
    made_up = svc.post(f"{SIGN}/feedback", {"feedback": [_item(str(uuid.uuid4()))]})
    assert made_up.json() == {"stored": 1, "duplicates": 0, "unknownCards": 1}
    assert _overridden_total(svc) == counted + 1  # the metric behind rates: no retries, no unissued cards


def test_more_feedback_items_than_the_cap_is_a_400_that_names_it(running) -> None:
    svc, _, _ = running
    response = svc.post(f"{SIGN}/feedback", {"feedback": [_item(str(uuid.uuid4())) for _ in range(51)]})
    assert response.status_code == 400
    assert "at most 50 feedback items" in response.json()["issue"][0]["diagnostics"]
    assert svc.post(f"{SIGN}/feedback", {"feedback": [_item(str(uuid.uuid4())) for _ in range(50)]}).ok


def test_every_refused_call_is_audited_and_exported(running) -> None:
    svc, _, _ = running
    bad_server = hook_body(scenario("dx-first-lumbar-covered"), "order-sign", fhir_server="http://127.0.0.1:9/fhir",
                           prefetch=False)
    no_prefetch = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    del no_prefetch["prefetch"]["conditions"]
    marker = str(uuid.uuid4())  # nothing the client sent may reach the audit
    statuses = [
        svc.hook("facet-order-sign", b"{not json " + marker.encode()).status_code,
        svc.hook("facet-order-sign", {"hook": "order-sign", "hookInstance": marker}, auth=False).status_code,
        svc.hook("facet-order-sign", bad_server).status_code,
        svc.hook(f"no-such-{marker}", {"hook": "order-sign"}).status_code,
        svc.hook("facet-order-sign", no_prefetch).status_code,
        svc.hook("facet-order-sign", b"{" + b" " * (1024 * 1024 + 10) + b"}").status_code,
    ]
    assert statuses == [400, 401, 403, 404, 412, 413]
    lines = [json.loads(line) for line in _export(svc, "ndjson").splitlines()]
    refusals = [r for r in lines if r["kind"] == "refusal"]
    seen = {(r["status"], r["reason"]) for r in refusals}
    assert {(400, "bad-request"), (401, "jwt-refused"), (403, "forbidden"), (404, "not-found"),
            (412, "prefetch-unavailable"), (413, "body-too-large")} <= seen
    forbidden = next(r for r in refusals if r["status"] == 403)
    assert forbidden["client"] == EHR_ISS and forbidden["route"] == "/cds-services/<service_id>"
    assert next(r for r in refusals if r["status"] == 401)["client"] is None  # not verified: not named
    assert all(r["at"].endswith("Z") and r["request_id"] for r in refusals)
    assert marker not in json.dumps(lines)


def test_the_admin_export_of_a_day_as_csv_and_ndjson(running) -> None:
    svc, _, _ = running
    body = hook_body(scenario("dx-four-levels"), "order-sign")
    answer = svc.hook("facet-order-sign", body).json()
    assert svc.get(f"/admin/api/audit/export?from={TODAY}&to={TODAY}&format=csv").status_code == 401
    assert svc.get(f"/admin/api/audit/export?from={TODAY}&to=nope&format=csv", headers=AUTH).status_code == 400
    assert svc.get(f"/admin/api/audit/export?from={TODAY}&to={TODAY}&format=xml", headers=AUTH).status_code == 400

    calls = [r for r in map(json.loads, _export(svc, "ndjson").splitlines()) if r["kind"] == "call"]
    call = next(r for r in calls if r["hook_instance"] == body["hookInstance"])
    assert call["card_uuids"] == sorted(c["uuid"] for c in answer["cards"])
    assert call["client"] == EHR_ISS and call["status"] == 200 and call["decisions"][0]["decision"] == "not-covered"
    assert len(call["assertion_ids"]) >= 1
    assert "orders" not in call["decisions"][0]  # order ids are not exported
    assert "kept-call" not in {r["hook_instance"] for r in calls}  # 5 days ago: outside today's range

    text = _export(svc, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    row = next(r for r in rows if r["hook_instance"] == body["hookInstance"])
    assert row["card_uuids"].split() == call["card_uuids"] and row["at"] == call["at"]
    patient_id = body["context"]["patientId"]
    assert patient_id not in text and row["patient_hash"] and row["patient_hash"] != patient_id
