"""One serialiser, three forms: the audit's stored rows keep the format (keys, order, values) they had when each
caller built its own dict, for every shipped scenario; the CLI's full form names the same criteria."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from cds_service.evaluation.evaluator import evaluate
from cds_service.evaluation.results import ProcedureDetermination
from cds_service.usecases.engine import default_library
from cds_service.usecases.serialise import assertion_criteria, audit_decision, determination_to_json
from tests.support.scenarios import all_scenarios, draft_orders, record_resources

TODAY = date(2026, 11, 20)


def _determinations() -> list[tuple[str, ProcedureDetermination]]:
    found = []
    for s in all_scenarios():
        evaluation = evaluate(default_library(), record_resources(s), draft_orders(s), today=TODAY)
        found += [(f"{s['id']}#{i}", d) for i, d in enumerate(evaluation.determinations)]
    return found


DETERMINATIONS = _determinations()


# The stored formats as the audit wrote them before there was one serialiser (rows in the field have them).
def stored_decision(d: ProcedureDetermination) -> dict[str, Any]:
    return {"procedure": d.procedure_label, "orders": list(d.order_ids), "revision": d.revision_id,
            "decision": d.decision.value if d.decision else None,
            "notMet": [c.criterion_id for c in d.not_met],
            "needsDocumentation": [c.criterion_id for c in d.needs_documentation]}


def stored_criteria(d: ProcedureDetermination) -> list[dict[str, Any]]:
    return [{"id": c.criterion_id, "result": c.status.value, "reason": c.reason,
             "evidence": [e.describe() for e in c.evidence]} for c in d.criteria]


def test_the_scenarios_exercise_every_part_of_the_forms():
    ds = [d for _, d in DETERMINATIONS]
    assert any(d.not_met for d in ds) and any(d.needs_documentation for d in ds) and any(d.decision is None for d in ds)
    assert any(e.date and e.code and e.note for d in ds for c in d.criteria for e in c.evidence)


@pytest.mark.parametrize(("name", "d"), DETERMINATIONS, ids=[n for n, _ in DETERMINATIONS])
def test_audit_rows_keep_their_stored_bytes(name, d):
    assert json.dumps(audit_decision(d)) == json.dumps(stored_decision(d))
    assert json.dumps(assertion_criteria(d)) == json.dumps(stored_criteria(d))


@pytest.mark.parametrize(("name", "d"), DETERMINATIONS[:20], ids=[n for n, _ in DETERMINATIONS[:20]])
def test_the_full_form_holds_what_the_audit_selects(name, d):
    full = determination_to_json(d)
    assert [c["id"] for c in full["criteria"]] == [c["id"] for c in assertion_criteria(d)]
    assert {k: full[k] for k in ("procedure", "orders", "revision", "decision")}.items() <= audit_decision(d).items()
