"""Builders shared by the cdshooks tests: hand-made determinations and draft orders."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

from cds_service.cdshooks.presentation import CardSettings
from cds_service.evaluation.check_params import MaxLevels
from cds_service.evaluation.results import CriterionResult, Decision, Evidence, ProcedureDetermination, Status
from cds_service.policy.conventions import CPT
from cds_service.policy.model import Revision
from cds_service.policy.terms import Fix
from cds_service.usecases.engine import default_library

CRITERIA_2026 = (
    "I", "I.A", "I.A.1", "I.A.1.a", "I.A.1.b", "I.A.1.b.i", "I.A.1.b.i Note", "I.A.1.b.ii", "I.A.1.c",
    "I.A.1.d", "I.A.1.e", "I.A.1.f", "I.A.1 Note", "I.B", "I.B.1.a", "I.B.1.b", "I.B.1.c", "I.B.2.a",
    "I.B.2.b", "I.B.2.c", "I.C", "I.D", "I.D.1", "I.D.2", "I.D.3", "I.D.4", "I.E", "I.F", "Table 2",
)
CRITERIA_2019 = (
    "I", "I.A", "I.A.1", "I.A.2", "I.A.3", "I.A.3.a", "I.A.3.b", "I.A.3.c", "I.A.3bis", "I.A.4",
    "I.A Note", "II.A.1", "II.A.2", "II.A.3", "II.B.1", "II.B.2", "II.B.3", "III", "IV", "V",
)
POLICY_URL = "https://www.centene.example/policies/CP.MP.171.pdf"
SETTINGS = CardSettings(plan_name="Centene", policy_url=POLICY_URL)
BLOCK_EVIDENCE = Evidence("Procedure", "blk-1", "2026-09-01", f"{CPT}|64493")


def shipped_revision(ids: tuple[str, ...]) -> Revision:
    """The shipped revision with this numbering: the criterion roles (decidable at, fix) come from its data."""
    return default_library().get("2019" if ids == CRITERIA_2019 else "2026-05")


def criteria(
    ids: tuple[str, ...] = CRITERIA_2026,
    changes: Mapping[str, Status] | None = None,
    *,
    attestable: frozenset[str] = frozenset(),
) -> tuple[CriterionResult, ...]:
    """Every criterion of a revision: met by default, `changes` overriding some statuses."""
    changes = changes or {}
    revision = shipped_revision(ids)
    out = []
    for i in ids:
        criterion = revision.criterion(i)
        assert criterion is not None, i
        out.append(CriterionResult(
            criterion_id=i,
            status=changes.get(i, Status.MET),
            reason=f"reason for {i}",
            evidence=(BLOCK_EVIDENCE,) if changes.get(i, Status.MET) is Status.MET else (),
            title=f"title {i}",
            attestable=i in attestable,
            decidable_at=criterion.decidable_at,
            fix=criterion.fix,
        ))
    return tuple(out)


def max_levels(ids: tuple[str, ...], kind: str) -> int | None:
    """The revision's level limit for this kind of order, as the evaluator reports it."""
    limits = [c.params for c in shipped_revision(ids).criteria if c.fix is Fix.LEVELS and c.applies(kind)]
    return next((p.max_levels for p in limits if isinstance(p, MaxLevels)), None)


def determination(
    decision: Decision | None = Decision.COVERED,
    *,
    changes: Mapping[str, Status] | None = None,
    attestable: frozenset[str] = frozenset(),
    ids: tuple[str, ...] = CRITERIA_2026,
    revision_id: str | None = "2026-05",
    revision_label: str | None = "05/26",
    order_ids: tuple[str, ...] = ("sr-1",),
    kind: str = "diagnostic-block",
    region: str = "lumbar",
    codes: tuple[str, ...] = ("64493",),
    levels: tuple[str, ...] = ("L4-L5",),
    level_count: int | None = 1,
    label: str = "Lumbar diagnostic facet block (64493), 1 level",
    questionnaire: str | None = None,
) -> ProcedureDetermination:
    return ProcedureDetermination(
        policy_id="CP.MP.171",
        revision_id=revision_id,
        revision_label=revision_label if revision_id else None,
        date_of_service="2026-09-01" if revision_id else "2018-03-01",
        order_ids=order_ids,
        procedure_label=label,
        kind=kind,
        region=region,
        codes=codes,
        levels=levels,
        level_count=level_count,
        decision=decision if revision_id else None,
        criteria=criteria(ids, changes, attestable=attestable) if revision_id else (),
        questionnaire=questionnaire,
        max_levels=max_levels(ids, kind) if revision_id else None,
    )


def service_request(
    order_id: str,
    code: str,
    *,
    body_sites: tuple[str, ...] = (),
    quantity: int | None = None,
    text: str | None = None,
    display: str | None = None,
) -> dict:
    """A draft ServiceRequest as an EHR sends it in draftOrders."""
    coding = {"system": CPT, "code": code}
    if display:
        coding["display"] = display
    order: dict = {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [coding]},
        "subject": {"reference": "Patient/pat-1"},
        "occurrenceDateTime": "2026-09-01",
        "note": [{"text": "Patient prefers morning appointments"}],
    }
    if text:
        order["code"]["text"] = text
    if body_sites:
        order["bodySite"] = [{"text": f"Left and right {site} facet joint"} for site in body_sites]
    if quantity is not None:
        order["quantityQuantity"] = {"value": quantity, "unit": "joint"}
    return order


def uuid_source() -> Callable[[], str]:
    """Deterministic, valid UUIDs (the shell injects uuid4)."""
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"
