from __future__ import annotations

from datetime import date

from cds_service.evaluation.evaluator import evaluate
from cds_service.evaluation.results import ProcedureDetermination
from cds_service.usecases.engine import default_library
from tests.support.fhir_builders import DOS


def determine(resources, orders, *, revision: str | None = None, today: date = DOS) -> ProcedureDetermination:
    orders = orders if isinstance(orders, list) else [orders]
    evaluation = evaluate(default_library(), resources, orders, today=today, revision_id=revision)
    assert len(evaluation.determinations) == 1, evaluation
    return evaluation.determinations[0]


def results(resources, orders, **kw) -> dict[str, str]:
    return {c.criterion_id: c.status.value for c in determine(resources, orders, **kw).criteria}


def result(criterion: str, resources, orders, **kw) -> str:
    return results(resources, orders, **kw)[criterion]
