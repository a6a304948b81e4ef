"""Sides and visits over real HTTP: a left + right block and an RF ordered for six weeks later, one signing."""
from __future__ import annotations

import uuid
from datetime import timedelta

from tests.support.fhir_builders import (
    DOS,
    PATIENT,
    block_with_relief,
    condition,
    coverage,
    days_ago,
    order,
    patient,
    procedure,
)
from tests.support.hook_bodies import PRACTITIONER, coverage_decisions, prefetch_for
from tests.support.response_checks import check_cds_response


def _sided(side: str) -> dict:
    o = order("64493", intent="diagnostic")
    o["bodySite"] = [{"text": f"{side} L4-5 facet joint"}]
    return o


def _sign(service, record, orders):
    scenario = {"patientId": PATIENT, "record": {"entry": [{"resource": r} for r in record]}}
    body = {
        "hook": "order-sign", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": PRACTITIONER, "patientId": PATIENT,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": o} for o in orders]}},
        "prefetch": prefetch_for(scenario),
    }
    response = service.hook("facet-order-sign", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert check_cds_response(answer, hook="order-sign") == []
    return answer


def _text(answer) -> str:
    return " ".join(c.get("detail", "") + c["summary"] for c in answer["cards"])


def test_an_epidural_the_same_day_is_a_second_procedure(service):
    record = [patient(), coverage(), condition("M47.816", DOS - timedelta(days=400))]
    answer = _sign(service, record, [_sided("left"), order("62323", levels=())])
    assert "same visit" in _text(answer)


def test_bilateral_block_and_later_rf_in_one_signing(service):
    # one earlier session recorded as primary + add-on: one block, so today's is the second
    first = block_with_relief(days_ago(30), 8, 1, levels=("L4-L5",))
    record = [patient(), coverage(), condition("M47.816", DOS - timedelta(days=400)), *first,
              procedure("64494", days_ago(30), levels=("L5-S1",))]
    left, right = _sided("left"), _sided("right")
    rf = order("64635", day=DOS + timedelta(days=42))
    answer = _sign(service, record, [left, right, rf])
    decisions = coverage_decisions(answer)
    assert set(decisions) == {left["id"], right["id"], rf["id"]}
    assert decisions[left["id"]] == decisions[right["id"]]  # one bilateral procedure, one decision
    text = _text(answer)
    assert "same visit" not in text  # neither the other side nor the later RF is a second procedure today
    assert "diagnostic blocks already done" not in text
