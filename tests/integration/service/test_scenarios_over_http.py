"""Every synthetic scenario through the real service over real HTTP: prefetched and fetched give one answer."""
from __future__ import annotations

import pytest

from tests.conftest import FHIR_TOKEN
from tests.integration.service.hook_bodies import coverage_decisions, hook_body
from tests.support.response_checks import check_cds_response
from tests.support.scenarios import all_scenarios

SCENARIOS = [pytest.param(s, id=s["id"]) for s in all_scenarios()]


def _natural_expectation(scenario):
    """The expected entry for the revision the date of service selects (the first one listed)."""
    return scenario["expected"][0] if scenario["expected"] else None


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
    elif expected["decision"] == "none":      # before the first revision: a card, no action
        assert a["systemActions"] == [] and len(a["cards"]) == 1
    elif has_coverage:
        # The first expectation is for the revision in force; a what-if entry may name another revision.
        decisions = set(coverage_decisions(a).values())
        assert decisions, a
        if expected.get("revision") in ("2026-05", "2019"):
            natural = expected
            assert natural["decision"] in decisions
    else:
        assert a["systemActions"] == [] and a["cards"]


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
