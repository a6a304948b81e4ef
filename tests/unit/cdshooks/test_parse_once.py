"""Issue 9: a hook call is parsed once into an immutable HookRequest; nothing downstream re-reads the body."""
from __future__ import annotations

import dataclasses

import pytest

from cds_service.cdshooks.request import parse_hook_request
from cds_service.fhir_access import RecordCache, gather_record

PATIENT = "pat-a"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
SERVER = "http://127.0.0.1:9/fhir"


def body(fhir_server=None, orders=None, prefetch=None, **extra):
    data = {"hook": "order-sign", "hookInstance": HOOK_INSTANCE,
            "context": {"patientId": PATIENT, "userId": "Practitioner/1",
                        "draftOrders": orders if orders is not None else {"resourceType": "Bundle", "entry": []}},
            **extra}
    if fhir_server is not None:
        data["fhirServer"] = fhir_server
        data["fhirAuthorization"] = {"access_token": "tok", "token_type": "Bearer"}
    if prefetch is not None:
        data["prefetch"] = prefetch
    return data


def order(order_id="sr-1", **fields):
    return {"resourceType": "ServiceRequest", "id": order_id, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{PATIENT}"},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64493"}]}, **fields}


class FakeClient:
    def __init__(self):
        self.built_with: list[str] = []
        self.warnings: list[str] = []

    def factory(self, base_url, token):
        self.built_with.append(base_url)
        return self

    def search(self, query, deadline):
        return []

    def read(self, path, deadline):
        return {"resourceType": "Patient", "id": PATIENT}


@pytest.mark.parametrize("sent", ["http://127.0.0.1:9/fhir/", "  http://127.0.0.1:9/fhir ", "http://127.0.0.1:9/fhir/\n"])
def test_fhir_server_is_normalised_once_for_allow_list_fetch_and_cache(sent):
    request = parse_hook_request(body(sent))
    assert request.fhir_server == "http://127.0.0.1:9/fhir"
    cache, first, second = RecordCache(), FakeClient(), FakeClient()

    gather_record(request, client_factory=first.factory, cache=cache, issuer="iss")
    again = gather_record(parse_hook_request(body("http://127.0.0.1:9/fhir")), client_factory=second.factory,
                          cache=cache, issuer="iss")

    assert first.built_with == ["http://127.0.0.1:9/fhir"]  # the string the allow-list saw is the one fetched
    # one cache key for both spellings: all but the never-cached attestations come from the first call
    assert again.fetched_keys == ["questionnaireResponses"] and "patient" in again.cached_keys


def test_draft_orders_are_validated_once_and_an_invalid_one_is_skipped_and_named():
    bad = order("sr-bad", authoredOn="last tuesday")
    request = parse_hook_request(body(orders={"resourceType": "Bundle", "entry": [
        {"resource": order()}, {"resource": bad}]}))

    assert [o["id"] for o in request.draft_orders] == ["sr-1"]
    assert list(request.orders_as_sent) == ["sr-1"]  # echoed in systemActions as the client sent it
    (skipped,) = request.skipped
    assert skipped[:2] == ("ServiceRequest", "sr-bad") and "authoredOn" in skipped[2]


def test_one_coverage_choice_from_the_order_s_insurance_relative_or_absolute_single_order_or_bundle():
    coverages = [{"resourceType": "Coverage", "id": cid, "status": "active",
                  "beneficiary": {"reference": f"Patient/{PATIENT}"}} for cid in ("c1", "c2")]
    prefetch = {"coverage": {"resourceType": "Bundle", "entry": [{"resource": c} for c in coverages]}}
    single = order(insurance=[{"reference": "http://ehr.example/fhir/Coverage/c2"}])  # a lone order, no Bundle

    gathered = gather_record(parse_hook_request(body(SERVER, orders=single, prefetch=prefetch)),
                             client_factory=FakeClient().factory)

    # before, the record chose c1 (it read only Bundle entries with relative references) and the answer c2
    assert (gathered.coverage or {}).get("id") == "c2"
    assert gathered.coverage_reference == "Coverage/c2"


@pytest.mark.parametrize("reference", [" Coverage/c2\n", "Coverage/c2/_history/3",
                                       "https://ehr.example/fhir/Coverage/c2/_history/3"])
def test_the_coverage_an_order_names_is_read_as_every_reference_is(reference):
    """Padded or versioned, `insurance` names c2, as the record reads references (contract §4 "Codes")."""
    coverages = [{"resourceType": "Coverage", "id": cid, "status": "active",
                  "beneficiary": {"reference": f"Patient/{PATIENT}"}} for cid in ("c1", "c2")]
    prefetch = {"coverage": {"resourceType": "Bundle", "entry": [{"resource": c} for c in coverages]}}
    request = parse_hook_request(body(SERVER, orders=order(insurance=[{"reference": reference}]), prefetch=prefetch))
    gathered = gather_record(request, client_factory=FakeClient().factory)
    assert request.coverage_ids == ("c2",)
    assert (gathered.coverage or {}).get("id") == "c2" and gathered.coverage_reference == "Coverage/c2"


def test_a_coverage_the_record_does_not_hold_is_still_the_one_the_order_names():
    request = parse_hook_request(body(SERVER, orders=order(insurance=[{"reference": "Coverage/c9"}]),
                                      prefetch={"coverage": None}))
    gathered = gather_record(request, client_factory=FakeClient().factory)
    assert gathered.coverage is None and gathered.coverage_reference == "Coverage/c9"


def test_the_hook_request_is_immutable():
    request = parse_hook_request(body(prefetch={"coverage": None}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.patient_id = "someone-else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.prefetch["coverage"] = {}  # type: ignore[index]


def test_the_service_validates_draft_orders_as_the_cli_does(tmp_path):
    """Before, the service evaluated draft orders raw (the CLI validated them): an RF order with an unreadable
    authoredOn got a card. Now it is skipped and named in the audit (hashed), and the valid block is answered."""
    import json
    import sqlite3

    from cds_service.fhir_access import PREFETCH_TEMPLATES
    from tests.support.in_process import in_process_client

    client = in_process_client(tmp_path, CDS_AUTH="off")
    prefetch = {key: None for key in PREFETCH_TEMPLATES} | {"patient": {"resourceType": "Patient", "id": PATIENT}}
    rf = order("sr-bad", authoredOn="last tuesday",
               code={"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64635"}]})
    orders = {"resourceType": "Bundle", "entry": [{"resource": order(occurrenceDateTime="2026-11-20")},
                                                  {"resource": rf}]}

    response = client.post("/cds-services/facet-order-sign", json=body(orders=orders, prefetch=prefetch))

    assert response.status_code == 200
    summaries = [card["summary"] for card in response.get_json()["cards"]]
    assert any(s.startswith("Lumbar facet block") for s in summaries)
    assert not any("RF" in s or "neurotomy" in s.lower() for s in summaries)
    (detail,) = sqlite3.connect(tmp_path / "cds.sqlite3").execute("SELECT detail FROM audit").fetchone()
    skipped = json.loads(detail)["skippedResources"]
    assert len(skipped) == 1 and skipped[0].startswith("ServiceRequest/#") and "sr-bad" not in skipped[0]
