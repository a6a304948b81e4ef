"""Every synthetic scenario of fhir_fixtures/ gives the decision and criterion results it was written for.

The expectations were written from policy/data/cp-mp-171/CRITERIA.md independently of the engine code.
"""
from __future__ import annotations

import pytest

from cds_service.evaluation.evaluator import evaluate
from cds_service.fhir_access.normalize import normalize_resources
from cds_service.usecases.engine import default_library
from tests.support.fhir_builders import DOS
from tests.support.scenarios import all_scenarios, draft_orders, record_resources

CASES = [
    pytest.param(s, i, id=f"{s['id']}@{exp.get('revision') if exp else 'none'}")
    for s in all_scenarios()
    for i, exp in enumerate(s["expected"] or [None])
]


def test_there_are_at_least_thirty_scenarios_covering_both_revisions():
    scenarios = all_scenarios()
    assert len(scenarios) >= 30
    revisions = {e.get("revision") for s in scenarios for e in s["expected"]}
    assert {"2019", "2026-05"} <= revisions
    both = [s["id"] for s in scenarios if {"2019", "2026-05"} <= {e.get("revision") for e in s["expected"]}]
    assert len(both) >= 3, both


@pytest.mark.parametrize("s, index", CASES)
def test_scenario_decision_and_criteria(s, index):
    library = default_library()
    batch = normalize_resources(record_resources(s))
    assert sorted(x.resource_id for x in batch.skipped) == sorted(s.get("malformedResourceIds", []))
    orders = draft_orders(s)
    natural = evaluate(library, batch.resources, orders, today=DOS)
    if index >= len(s["expected"]):  # no in-scope procedure at all
        assert natural.determinations == ()
        return
    expected = s["expected"][index]
    forced = expected.get("revision")
    if natural.determinations and forced and natural.determinations[0].revision_id != forced:
        natural = evaluate(library, batch.resources, orders, today=DOS, revision_id=forced)
    assert len(natural.determinations) >= 1
    d = natural.determinations[0]
    if expected["decision"] == "none":
        assert d.revision_id is None and d.decision is None
        return
    got = {c.criterion_id: c.status.value for c in d.criteria}
    wanted = expected.get("criteria", {})
    assert {k: got.get(k) for k in wanted} == wanted
    assert d.decision.value == expected["decision"], [(c.criterion_id, c.status.value, c.reason) for c in d.criteria if c.status.value in ("not-met", "needs-documentation")]
