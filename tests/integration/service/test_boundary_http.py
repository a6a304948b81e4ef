"""The boundary as a newcomer meets it (issue 9) and the input that reaches logs and storage (issue 10), over HTTP."""
from __future__ import annotations

import pytest
import requests

from tests.conftest import FHIR_TOKEN
from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario

SIGN = "/cds-services/facet-order-sign"


def outcome(response: requests.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


def signed_body() -> dict:
    return hook_body(scenario("dx-first-lumbar-covered"), "order-sign")


# ---------------------------------------------------------------- 405 on a hook URL
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", [SIGN, f"{SIGN}/feedback"])
def test_other_methods_on_a_hook_url_are_405_with_allow(service, method, path):
    response = requests.request(method, f"{service.base_url}{path}", timeout=10)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"] and "GET" not in response.headers["Allow"]
    assert "POST" in outcome(response) and method in outcome(response)


def test_post_on_discovery_is_405_naming_get(service):
    response = requests.post(f"{service.base_url}/cds-services", timeout=10)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.json()["issue"][0]["code"] == "not-supported"


# ---------------------------------------------------------------- 412 says its cause once
def test_412_names_its_cause_once(service):
    body = signed_body()
    del body["prefetch"]["conditions"]
    message = outcome(service.hook("facet-order-sign", body))
    assert "conditions" in message
    assert message.lower().count("fhirserver") == 1 and message.lower().count("prefetch") == 1


# ---------------------------------------------------------------- input that reaches logs and storage
@pytest.mark.parametrize("value", ["not-a-uuid", "x" * 5000, "2b6a4c1e-7d0f-4a53-9f1e-0c2d7f1c9a11\r\nFORGED"])
def test_hook_instance_must_be_a_uuid(service, value):
    body = signed_body()
    body["hookInstance"] = value
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "hookInstance" in outcome(response)
    assert "FORGED" not in service.log()


@pytest.mark.parametrize("value", ["bad id", "p1\r\nINFO forged line", "a" * 65, "p\x001", "p/../1"])
def test_patient_id_must_be_a_fhir_id(service, value):
    body = signed_body()
    body["context"]["patientId"] = value
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "patientId" in outcome(response)
    assert "forged line" not in service.log()


@pytest.mark.parametrize("where", ["userId", "note", "prefetch-key"])
def test_nul_anywhere_is_400_not_500(service, where):
    body = signed_body()
    if where == "userId":
        body["context"]["userId"] = "Practitioner/dr\x00x"
    elif where == "note":
        body["context"]["draftOrders"]["entry"][0]["resource"]["note"] = [{"text": "left\x00side"}]
    else:
        body["prefetch"]["bad\x00key"] = None
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400, response.text
    assert outcome(response)


def test_control_characters_in_user_id_are_400(service):
    body = signed_body()
    body["context"]["userId"] = "Practitioner/dr\r\nINFO forged"
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "userId" in outcome(response)


def test_a_draft_order_with_a_bad_id_is_400(service):
    body = signed_body()
    body["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "order one"
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "order id" in outcome(response)


def test_a_prefetched_resource_with_a_bad_id_is_skipped_not_refused(service):
    body = signed_body()
    conditions = body["prefetch"]["conditions"]["entry"]
    conditions.append({"resource": {**conditions[0]["resource"], "id": "cond\r\nFORGED 1"}})
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200
    assert "FORGED" not in service.log()
    # the clean copy of the same Condition still counts: the decision is as without the bad one
    decisions = [c["summary"] for c in response.json()["cards"]]
    plain = service.hook("facet-order-sign", signed_body()).json()
    assert decisions == [c["summary"] for c in plain["cards"]]


# ---------------------------------------------------------------- a patient the FHIR server does not know
@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_unknown_patient_is_answered_as_not_found_without_criteria(service, fhir_server, hook):
    body = hook_body(scenario("dx-first-lumbar-covered"), hook, fhir_server=fhir_server, token=FHIR_TOKEN,
                     prefetch=False)
    body["context"]["patientId"] = "nobody-on-this-server"
    response = service.hook(f"facet-{hook}", body)
    assert response.status_code == 200  # contract §5: FHIR trouble is an answer, never an error
    cards = response.json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    text = f"{card['summary']} {card['detail']}".lower()
    assert "does not know this patient" in card["summary"] and "not found" in text
    assert "try again" not in text and "later" not in text
    # no criterion is listed: nothing of the record was read, so nothing reads as checked
    assert "| criterion" not in text and "needs documentation" not in text and "| met" not in text
    assert card["extension"]["davinci-crd.associated-resource"]
    assert response.json().get("systemActions", []) == []


def test_a_known_patient_with_the_same_orders_is_still_decided(service, fhir_server):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign", fhir_server=fhir_server, token=FHIR_TOKEN,
                     prefetch=False)
    cards = service.hook("facet-order-sign", body).json()["cards"]
    assert "does not know" not in " ".join(c["summary"] for c in cards) and len(cards) > 1


# ---------------------------------------------------------------- log files are plain text
def test_the_service_log_file_has_no_colour_codes(service):
    service.get("/no-such-page")  # a 404: the line Werkzeug colours yellow
    service.hook("facet-order-sign", b"{not json")
    log = service.log()
    assert "/no-such-page" in log
    assert "\x1b" not in log


def test_a_log_record_is_one_line_whatever_its_message():
    import logging

    from cds_service.observability.plain_logs import FORMAT, PlainFormatter

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "value=%s", ("x\r\n2026-01-01 INFO forged",), None)
    line = PlainFormatter(FORMAT).format(record)
    assert "\n" not in line and "\r" not in line and "x\\r\\n2026-01-01" in line


def test_a_prefetched_resource_with_a_bad_id_is_named_in_the_audit(service):
    import json
    import sqlite3

    body = signed_body()
    conditions = body["prefetch"]["conditions"]["entry"]
    conditions.append({"resource": {**conditions[0]["resource"], "id": "cond\r\nFORGED 2"}})
    assert service.hook("facet-order-sign", body).status_code == 200
    db = sqlite3.connect(service.log_path.parent / "cds.sqlite3")
    (detail,) = db.execute("SELECT detail FROM audit WHERE hook_instance = ?", (body["hookInstance"],)).fetchone()
    skipped = json.loads(detail)["skippedResources"]
    assert any(s.startswith("Condition/? (prefetch 'conditions' entry") for s in skipped), skipped
    assert "FORGED" not in detail


@pytest.mark.parametrize("path", [SIGN, "/cds-services"])
def test_oversized_headers_get_an_operation_outcome(service, path):
    headers = {f"X-Padding-{i}": "p" * 5000 for i in range(5)}  # each under any server's per-field limit
    response = service.session.post(f"{service.base_url}{path}", data=b"{}", headers=headers, timeout=10)
    assert response.status_code == 431
    assert "headers" in outcome(response)
    assert service.hook("facet-order-sign", signed_body()).status_code == 200  # the service is unharmed


def test_unknown_patient_on_patient_view_is_not_try_again(service, fhir_server):
    body = hook_body(scenario("dx-first-lumbar-covered"), "patient-view", fhir_server=fhir_server, token=FHIR_TOKEN,
                     prefetch=False)
    del body["context"]["draftOrders"]
    body["context"]["patientId"] = "nobody-on-this-server"
    response = service.hook("facet-patient-view", body)
    assert response.status_code == 200
    (card,) = response.json()["cards"]
    assert "does not know this patient" in card["summary"]
    assert "try again" not in card["detail"].lower() and "systemActions" not in response.json()
