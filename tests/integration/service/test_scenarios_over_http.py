"""Every synthetic scenario through the real service over real HTTP: prefetched and fetched give one answer, the
exact decision and the per-criterion results the scenario states, for every revision (chosen by date of service)."""
from __future__ import annotations

import copy
from datetime import date

import pytest

from tests.conftest import FHIR_TOKEN
from tests.support.card_reading import (
    REVISIONS,
    criteria_from_card,
    criterion_ids,
    criterion_tables,
    decision_from_card,
    revision_in_force,
)
from tests.support.hook_bodies import coverage_decisions, hook_body
from tests.support.response_checks import check_cds_response
from tests.support.scenarios import all_scenarios, draft_orders

SCENARIOS = [pytest.param(s, id=s["id"]) for s in all_scenarios()]
CRITERION_IDS = criterion_ids(all_scenarios())


def _date_of_service(scenario) -> date | None:
    days = {o["occurrenceDateTime"][:10] for o in draft_orders(scenario) if "occurrenceDateTime" in o}
    assert len(days) <= 1, days
    return date.fromisoformat(days.pop()) if days else None


def _natural_expectation(scenario):
    """The expected entry for the revision the date of service selects: the first one listed (a later entry
    is a what-if under another revision, which HTTP cannot ask for)."""
    return scenario["expected"][0] if scenario["expected"] else None


def test_the_scenarios_cover_every_revision_by_date_of_service():
    """Each scenario's first expectation names the revision in force on its date of service (from the revision
    files' effective dates, not from the engine), and every revision is some scenario's."""
    natural = {}
    for s in all_scenarios():
        expected = _natural_expectation(s)
        if expected is not None:
            assert expected["revision"] == revision_in_force(_date_of_service(s)), s["id"]
            natural.setdefault(expected["revision"], []).append(s["id"])
    assert set(natural) == {*REVISIONS, None}, natural


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_order_sign_prefetched_and_fetched_agree(service, fhir_server, scenario):
    prefetched = service.hook("facet-order-sign", hook_body(scenario, "order-sign"))
    fetched = service.hook("facet-order-sign", hook_body(scenario, "order-sign", fhir_server=fhir_server, token=FHIR_TOKEN, prefetch=False))
    assert prefetched.status_code == 200, prefetched.text
    assert fetched.status_code == 200, fetched.text
    a, b = prefetched.json(), fetched.json()
    for body in (a, b):
        assert check_cds_response(body, hook="order-sign") == []
    assert coverage_decisions(a) == coverage_decisions(b)
    assert [c["summary"] for c in a["cards"]] == [c["summary"] for c in b["cards"]]

    expected = _natural_expectation(scenario)
    has_coverage = any(e["resource"]["resourceType"] == "Coverage" for e in scenario["record"]["entry"])
    if expected is None:                      # nothing in scope: no card, no action
        assert a == {"cards": [], "systemActions": []}
        return
    if expected["decision"] == "none":        # before the first revision: a card, no action
        assert a["systemActions"] == [] and len(a["cards"]) == 1
        return
    if has_coverage:                          # every order in scope carries the exact decision
        decisions = coverage_decisions(a)
        assert decisions, a["cards"]
        assert set(decisions.values()) == {expected["decision"]}, [c["summary"] for c in a["cards"]]
    else:                                     # no Coverage to attach a decision to: cards only
        assert a["systemActions"] == [] and a["cards"]
    for body in (a, b):                       # the per-criterion results the scenario states, as the card shows them
        tables = criterion_tables(body)
        assert tables, [c["summary"] for c in body["cards"]]
        got = criteria_from_card(tables[0], CRITERION_IDS)
        assert {k: got.get(k) for k in expected["criteria"]} == expected["criteria"], tables[0]
        assert decision_from_card(tables[0]) == (expected["decision"], REVISIONS[expected["revision"]][1]), tables[0]


@pytest.mark.parametrize("scenario", SCENARIOS[:12])
def test_order_select_never_asks_for_documentation(service, scenario):
    response = service.hook("facet-order-select", hook_body(scenario, "order-select"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert check_cds_response(body, hook="order-select") == []
    for action in body.get("systemActions", []):   # CRD hook-19: no documentation request on a secondary hook
        for ext in action["resource"].get("extension", []):
            urls = {part["url"] for part in ext.get("extension", [])}
            assert not urls & {"doc-needed", "doc-purpose", "questionnaire"}
    assert all("documentation" not in card["summary"].lower() for card in body["cards"])


def test_order_select_warms_the_cache_so_order_sign_does_not_refetch(service, fhir_server):
    import sqlite3

    s = next(x for x in all_scenarios() if x["id"] == "dx-first-lumbar-no-attestations")
    select = service.hook("facet-order-select", hook_body(s, "order-select", fhir_server=fhir_server, token=FHIR_TOKEN, prefetch=False))
    sign = service.hook("facet-order-sign", hook_body(s, "order-sign", fhir_server=fhir_server, token=FHIR_TOKEN, prefetch=False))
    assert select.status_code == sign.status_code == 200
    db = sqlite3.connect(service.log_path.parent / "cds.sqlite3")
    (detail,) = db.execute("SELECT detail FROM audit WHERE hook='order-sign' ORDER BY id DESC LIMIT 1").fetchone()
    import json
    detail = json.loads(detail)
    assert "conditions" in detail["cachedKeys"] and "conditions" not in detail["fetchedKeys"]
    assert "questionnaireResponses" in detail["fetchedKeys"]  # attestations are always read fresh


@pytest.mark.parametrize("selected", [
    "ServiceRequest/{id}", " ServiceRequest/{id}  ", "ServiceRequest/{id}/_history/2",
    "https://ehr.example.org/fhir/ServiceRequest/{id}/_history/2", "{id}",
])
def test_order_select_answers_only_for_the_selected_order(service, selected):
    """The selection names one of two facet orders; the other one's cards are not the clinician's concern yet.
    References are read as everywhere (contract §4 "Codes"): padded, versioned or absolute name the same order."""
    s = next(x for x in all_scenarios() if x["id"] == "pulsed-rf")
    body = hook_body(s, "order-select")
    entries = body["context"]["draftOrders"]["entry"]
    chosen = entries[0]["resource"]["id"]
    other = copy.deepcopy(entries[0]["resource"]) | {"id": "other-order", "code": {"coding": [
        {"system": "http://www.ama-assn.org/go/cpt", "code": "0213T"}]}}  # ultrasound: order-select speaks up
    entries.append({"resource": other})
    body["context"]["selections"] = [selected.format(id=chosen)]
    response = service.hook("facet-order-select", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    summaries = [card["summary"] for card in answer["cards"]]
    assert any("pulsed RF" in summary for summary in summaries), summaries
    assert not any("0213T" in summary for summary in summaries), summaries  # the unselected order's card
    assert {a["resource"]["id"] for a in answer.get("systemActions", [])} <= {chosen}
