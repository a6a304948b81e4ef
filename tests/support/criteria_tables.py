"""What the engine tables of tests/unit/engine share: the four criterion outcomes, the 2019 what-if, the usual
record (a patient with Coverage and lumbar spondylosis for 8 months), and the engine called on one order."""
from __future__ import annotations

from datetime import date
from typing import Any

from cds_service.evaluation.evaluator import evaluate
from cds_service.evaluation.results import ProcedureDetermination
from cds_service.usecases.engine import default_library
from tests.support.fhir_builders import DOS, condition, coverage, months_ago, patient

MET, NOT_MET, DOC, NA = "met", "not-met", "needs-documentation", "not-applicable"
R2019 = {"revision": "2019"}  # keyword arguments that evaluate a table row under the 2019 revision


def base() -> list[dict[str, Any]]:
    return [patient(), coverage(), condition("M47.816", months_ago(8))]


def determine(resources, orders, *, revision: str | None = None, today: date = DOS) -> ProcedureDetermination:
    orders = orders if isinstance(orders, list) else [orders]
    evaluation = evaluate(default_library(), resources, orders, today=today, revision_id=revision)
    assert len(evaluation.determinations) == 1, evaluation
    return evaluation.determinations[0]


def results(resources, orders, **kw) -> dict[str, str]:
    return {c.criterion_id: c.status.value for c in determine(resources, orders, **kw).criteria}


def result(criterion: str, resources, orders, **kw) -> str:
    return results(resources, orders, **kw)[criterion]


def criterion(criterion_id: str, resources, orders, **kw):
    """The whole result of one criterion (status, the reason a clinician reads, evidence)."""
    return next(c for c in determine(resources, orders, **kw).criteria if c.criterion_id == criterion_id)
