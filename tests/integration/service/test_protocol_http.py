"""The CDS Hooks protocol over real HTTP: discovery, feedback, CORS, Questionnaires, health, and every error code."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid

import pytest
import requests

from tests.conftest import FHIR_TOKEN
from tests.support.hook_bodies import coverage_decisions, hook_body
from tests.support.jwt_factory import KeyPair, make_claims
from tests.support.scenarios import scenario

SIGN = "/cds-services/facet-order-sign"


def outcome(response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


# ---------------------------------------------------------------- discovery
def test_discovery_lists_one_service_per_hook_without_a_jwt(service):
    response = service.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert sorted(s["hook"] for s in services) == ["order-select", "order-sign", "patient-view"]
    for s in services:
        assert s["id"] and s["description"] and s["title"]
        for template in s["prefetch"].values():
            # CDS Hooks 2.0 root-level tokens only, so any EHR can fill them
            assert "{{" not in template.replace("{{context.patientId}}", "")
    sign = next(s for s in services if s["hook"] == "order-sign")
    assert sign["extension"]["davinci-crd.version"] == ["2.2"]


# ---------------------------------------------------------------- CORS
@pytest.mark.parametrize("path", ["/cds-services", SIGN, f"{SIGN}/feedback"])
def test_cors_preflight_needs_no_jwt(service, path):
    response = requests.options(f"{service.base_url}{path}", headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"}, timeout=5)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_error_responses_carry_cors_headers_too(service):
    response = service.hook("facet-order-sign", {"hook": "order-sign"}, auth=False, headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"]


# ---------------------------------------------------------------- errors (contract §5)
def test_400_malformed_json(service):
    response = service.hook("facet-order-sign", b"{not json")
    assert response.status_code == 400 and "not valid JSON" in outcome(response)


def test_400_hook_mismatch(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-select")
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "order-sign" in outcome(response)


@pytest.mark.parametrize("drop", ["hookInstance", "context"])
def test_400_missing_required_field(service, drop):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    del body[drop]
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and drop in outcome(response)


def test_400_missing_context_field(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    del body["context"]["draftOrders"]
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "draftOrders" in outcome(response)


def test_400_too_deep(service):
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign") | {"extension": deep}
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "deeper" in outcome(response)


def test_400_too_many_draft_orders(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    order = body["context"]["draftOrders"]["entry"][0]
    body["context"]["draftOrders"]["entry"] = [order] * 51
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 400 and "draft orders" in outcome(response)


def test_401_without_jwt_and_with_a_jwt_for_another_url(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    assert service.hook("facet-order-sign", body, auth=False).status_code == 401
    wrong_aud = service.token("/cds-services/facet-order-select")
    response = service.hook("facet-order-sign", body, auth=False, headers={"Authorization": f"Bearer {wrong_aud}"})
    assert response.status_code == 401
    assert "aud" not in outcome(response)  # no detail that helps an attacker


def test_a_discovery_url_typed_with_a_trailing_slash_works_as_the_sandbox_builds_on_it(service):
    """The sandbox calls `{discovery URL}/{id}`: typed as `…/cds-services/`, that is `…/cds-services//{id}`, with
    a JWT naming that URL (CDS Hooks sandbox S-2). Both the discovery and the hook call are answered."""
    assert service.get("/cds-services/").status_code == 200
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    response = service.post("/cds-services//facet-order-sign", body)  # its JWT's aud is this URL, as called
    assert response.status_code == 200 and coverage_decisions(response.json())
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-22T21:15:39Z"}
    assert service.post("/cds-services//facet-order-sign/feedback", {"feedback": [item]}).status_code == 200


def test_the_jwt_still_names_the_url_as_called(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    token = service.token("/cds-services/facet-order-sign")  # not the `//` URL this call uses
    response = service.post("/cds-services//facet-order-sign", body, auth=False,
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_401_for_an_unknown_key(service):
    stranger = KeyPair.generate("ES384", kid=service.key.kid)
    token = stranger.sign(make_claims(f"{service.base_url}{SIGN}", service.iss, jti=str(uuid.uuid4())))
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    assert service.hook("facet-order-sign", body, auth=False, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_401_replayed_token(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    token = service.token(SIGN)
    first = service.hook("facet-order-sign", body, auth=False, headers={"Authorization": f"Bearer {token}"})
    second = service.hook("facet-order-sign", body, auth=False, headers={"Authorization": f"Bearer {token}"})
    assert (first.status_code, second.status_code) == (200, 401)


class ListeningSocket:
    """A loopback listener that records whether anyone connected (for SSRF assertions)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self._stop = True
        self.thread.join(1)
        self.sock.close()


@pytest.mark.parametrize("make_url", [
    lambda port: f"http://127.0.0.1:{port}/fhir",
    lambda port: f"http://user@127.0.0.1:{port}/fhir",
    lambda port: "file:///etc/passwd",
])
def test_403_fhir_server_not_on_the_allow_list_and_nothing_fetched(service, make_url):
    listener = ListeningSocket()
    try:
        body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign", fhir_server=make_url(listener.port), token="secret", prefetch=False)
        response = service.hook("facet-order-sign", body)
        time.sleep(0.3)
        assert response.status_code == 403 and "allow-list" in outcome(response)
        assert listener.connections == 0
    finally:
        listener.close()


def test_404_unknown_service(service):
    response = service.hook("no-such-service", {"hook": "order-sign"})
    assert response.status_code == 404 and "no-such-service" in outcome(response)


def test_413_body_over_the_limit(service):
    response = service.hook("facet-order-sign", b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert response.status_code == 413 and "bytes" in outcome(response)


def test_412_prefetch_missing_and_no_fhir_server(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    del body["prefetch"]["conditions"]
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 412 and "conditions" in outcome(response)


def test_null_prefetch_key_means_the_client_has_none(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    body["prefetch"]["devices"] = None
    assert service.hook("facet-order-sign", body).status_code == 200


# ---------------------------------------------------------------- FHIR server failures
def test_fhir_server_down_is_indeterminate_within_the_deadline(service, dead_fhir_server):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign", fhir_server=dead_fhir_server, token=FHIR_TOKEN)
    del body["prefetch"]["conditions"]
    started = time.monotonic()
    response = service.hook("facet-order-sign", body)
    assert time.monotonic() - started < 3.5
    assert response.status_code == 200
    assert set(coverage_decisions(response.json()).values()) == {"indeterminate"}
    text = json.dumps(response.json()["cards"])
    assert "Connection" not in text and "Traceback" not in text and "127.0.0.1" not in text
    # the unread Conditions are not "missing" in what the clinician reads
    assert "no back or neck pain diagnosis" not in text and "could not be read" in text


def test_wrong_fhir_token_is_indeterminate_not_an_error(service, fhir_server):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign", fhir_server=fhir_server, token="wrong-token", prefetch=False)
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200
    assert set(coverage_decisions(response.json()).values()) == {"indeterminate"}
    text = json.dumps(response.json()["cards"])
    assert "not recorded" not in text and "no back or neck pain diagnosis" not in text


# ---------------------------------------------------------------- feedback
def test_feedback_is_stored_and_idempotent(service):
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z",
            "overrideReason": {"reason": {"code": "clinical-judgment", "system": "https://facet-cds.example.org/fhir/CodeSystem/facet-cds"}}}
    first = service.post(f"{SIGN}/feedback", {"feedback": [item]})
    again = service.post(f"{SIGN}/feedback", {"feedback": [item]})
    # unknownCards: a made-up card uuid, never issued (stored, kept out of the rates)
    assert first.status_code == 200 and first.json() == {"stored": 1, "duplicates": 0, "unknownCards": 1}
    assert again.status_code == 200 and again.json() == {"stored": 0, "duplicates": 1, "unknownCards": 1}


def test_feedback_needs_a_jwt_for_the_feedback_url(service):
    item = {"card": "c", "outcome": "accepted", "acceptedSuggestions": [{"id": "s"}], "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    token = service.token(SIGN)
    response = service.post(f"{SIGN}/feedback", {"feedback": [item]}, auth=False, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_malformed_feedback_is_400(service):
    response = service.post(f"{SIGN}/feedback", {"feedback": [{"card": "c", "outcome": "maybe"}]})
    assert response.status_code == 400 and "outcome" in outcome(response)


@pytest.mark.parametrize("change, named", [
    ({"outcomeTimestamp": "yesterday"}, "outcomeTimestamp"),        # CDS Hooks F-2: RFC 3339
    ({"outcomeTimestamp": "2026-02-30T10:00:00Z"}, "outcomeTimestamp"),
    ({"outcomeTimestamp": "2026-11-22T21:15:39"}, "outcomeTimestamp"),  # no zone
    ({"overrideReason": {}}, "overrideReason"),                      # needs reason or userComment
    ({"overrideReason": "because"}, "overrideReason"),
    ({"overrideReason": {"reason": "x"}}, "overrideReason.reason"),  # a Coding, not a string
    ({"overrideReason": {"userComment": ["a"]}}, "userComment"),
    ({"overrideReason": {"userComment": "x" * 1001}}, "userComment"),
])
def test_feedback_that_breaks_the_spec_shape_is_400_naming_the_field(service, change, named):
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-22T21:15:39.668Z"}
    response = service.post(f"{SIGN}/feedback", {"feedback": [item | change]})
    assert response.status_code == 400 and named in outcome(response)


def test_feedback_as_the_sandbox_sends_it_is_accepted(service):
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-22T21:15:39.668Z",
            "overrideReason": {"userComment": "seen"}}
    assert service.post(f"{SIGN}/feedback", {"feedback": [item]}).status_code == 200


# ---------------------------------------------------------------- Questionnaire, health, metrics, logs
def test_questionnaire_canonical_resolves(service):
    body = service.hook("facet-order-sign", hook_body(scenario("dx-first-lumbar-no-attestations"), "order-sign")).json()
    canonical = next(part["valueCanonical"] for action in body["systemActions"]
                     for ext in action["resource"]["extension"] for part in ext["extension"] if part["url"] == "questionnaire")
    url, version = canonical.split("|")
    found = service.get("/fhir/Questionnaire", params={"url": canonical}).json()
    assert found["total"] == 1
    q = found["entry"][0]["resource"]
    assert (q["url"], q["version"]) == (url, version)
    assert service.get(f"/fhir/Questionnaire/{q['id']}").json() == q
    assert "I.A.1.c" in [i["linkId"] for i in q["item"]]


def test_readyz_and_metrics(service):
    ready = service.get("/readyz").json()
    assert ready["status"] == "ready" and ready["auth"] == "on"
    assert {r["revision"] for r in ready["policy"]} >= {"2019", "2026-05"}
    metrics = service.get("/metrics").text
    assert "cds_hook_calls_total" in metrics and "cds_decisions_total" in metrics


def test_logs_carry_no_patient_ids_tokens_or_bodies(service):
    s = scenario("dx-first-lumbar-covered")
    service.hook("facet-order-sign", hook_body(s, "order-sign"))
    log = service.log()
    assert s["patientId"] not in log
    assert "Bearer" not in log and FHIR_TOKEN not in log and "eyJ" not in log
    assert "M47.816" not in log


def test_crd_configuration_switches_card_types_off(service):
    body = hook_body(scenario("ultrasound-guided"), "order-sign")
    full = service.hook("facet-order-sign", body).json()
    topics = {c["source"]["topic"]["code"] for c in full["cards"]}
    assert "therapy-alternatives-req" in topics and full["systemActions"]
    body = hook_body(scenario("ultrasound-guided"), "order-sign")
    body["extension"] = {"davinci-crd.configuration": {"therapy-alternatives-req": False, "coverage-info": False}}
    limited = service.hook("facet-order-sign", body).json()
    assert "therapy-alternatives-req" not in {c["source"]["topic"]["code"] for c in limited["cards"]}
    assert limited["systemActions"] == []


def test_tolerates_what_real_clients_send(service):
    """Sandbox-style quirks: singletons for arrays, no Bundle type, empty codings, DSTU2 orders to ignore."""
    s = scenario("dx-four-levels")
    body = hook_body(s, "order-sign")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["bodySite"] = order["bodySite"][0]                # a single object where an array belongs
    order["reasonCode"] = []                                 # empty array
    order["category"] = {"coding": [{}]}                     # empty coding, object instead of array
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",                            # no `type`
        "entry": [{"resource": order},
                  {"resource": {"resourceType": "MedicationOrder", "id": "dstu2-1", "status": "draft"}},
                  {"resource": {"resourceType": "ProcedureRequest", "id": "dstu2-2", "status": "draft"}}],
    }
    body["prefetch"]["conditions"]["entry"].append({"resource": {"resourceType": "Condition", "id": "junk",
                                                                 "subject": {"reference": f"Patient/{s['patientId']}"},
                                                                 "onsetDateTime": "not-a-date"}})
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [a["resource"]["id"] for a in answer["systemActions"]] == [order["id"]]   # DSTU2 orders ignored
    assert answer["systemActions"][0]["resource"]["bodySite"] == order["bodySite"]    # order sent back unchanged


def test_400_too_many_prefetched_resources(tmp_path, fhir_server):
    from tests.support.service_process import start_service

    svc = start_service(tmp_path, fhir_servers=[fhir_server], extra_env={"CDS_MAX_PREFETCH_RESOURCES": "10"})
    try:
        body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
        conditions = body["prefetch"]["conditions"]
        conditions["entry"] = conditions["entry"] * 11
        response = svc.hook("facet-order-sign", body)
        assert response.status_code == 400 and "prefetched resources" in outcome(response)
    finally:
        svc.stop()


HOSTILE = ("<img src=x onerror=alert(document.cookie)> [click](javascript:alert(1)) <script>x</script>\n\n"
           "# Prior authorization waived **Meets**")


def test_record_text_cannot_put_html_or_links_into_a_card(service):
    """Card detail is GitHub-flavoured markdown and EHRs (the sandbox among them) render raw HTML in it: the
    record's own words are shown as text, never as markup (stored XSS through a diagnosis's display)."""
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    for entry in body["prefetch"]["conditions"]["entry"]:
        entry["resource"]["code"]["coding"][0]["display"] = HOSTILE
        entry["resource"]["code"]["text"] = HOSTILE
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200
    details = " ".join(card.get("detail", "") for card in response.json()["cards"])
    assert "onerror" in details  # the words are still shown ...
    assert "<img" not in details and "<script" not in details  # ... as text: no tag
    assert not re.search(r"(?<!\\)\]\(javascript:", details)  # and no link (an escaped "\]" is a bracket)
    assert not re.search(r"(?m)^# ", details) and "**Meets**" not in details  # no heading, no fake bold


@pytest.mark.parametrize("missing", ["intent", "status", "subject"])
def test_a_draft_order_missing_what_fhir_requires_but_the_policy_does_not_read_is_still_decided(service, missing):
    """Drafts are read defensively (CDS Hooks: orders may be incomplete while being written): an order without
    `intent`, `status` or `subject` is decided as the complete one is, and gets its system action."""
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    del order[missing]
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200
    decisions = coverage_decisions(response.json())
    assert decisions[order["id"]] == "covered" and set(decisions.values()) == {"covered"}, decisions
    action = next(a["resource"] for a in response.json()["systemActions"] if a["resource"]["id"] == order["id"])
    assert missing not in action  # echoed as sent, only the coverage-information added


def test_a_facet_order_that_cannot_be_read_gets_a_card_saying_why(service):
    body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["occurrenceDateTime"] = "2026-02-30"  # no such day: the date of service cannot be known
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200
    unreadable = [c for c in response.json()["cards"] if "could not be read" in c["summary"]]
    assert len(unreadable) == 1 and unreadable[0]["indicator"] == "warning", response.json()["cards"]
    assert "occurrenceDateTime" in unreadable[0]["detail"] and order["id"] in unreadable[0]["detail"]
    assert order["id"] not in coverage_decisions(response.json())  # nothing decided about it
