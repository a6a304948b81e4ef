"""The one JSON form of a determination, and the views of it that the CLI and the audit keep.

`determination_to_json` is the full form (`evaluate --json` prints it). The audit keeps less, in formats that
stored rows already have: `audit_decision` (the audit row's `decisions`) and `assertion_criteria` (a coverage
assertion's `criteria`) select from the full form, so that a field is named and valued in one place only.
Key order is part of the stored bytes: each view keeps its own order.
"""
from __future__ import annotations

from typing import Any

from cds_service.evaluation.results import (
    CriterionResult,
    Evaluation,
    Evidence,
    ProcedureDetermination,
    Status,
)


def evidence_to_json(e: Evidence) -> dict[str, str]:
    """The evidence's fields that are set, in the order `Evidence.describe` reads them."""
    return {k: v for k, v in {"reference": e.reference, "date": e.date, "code": e.code, "note": e.note}.items() if v}


def criterion_to_json(c: CriterionResult) -> dict[str, Any]:
    return {
        "id": c.criterion_id,
        "title": c.title,
        "result": c.status.value,
        "reason": c.reason,
        "attestable": c.attestable,
        "settledByAttestation": c.settled_by_attestation,
        "evidence": [evidence_to_json(e) for e in c.evidence],
    }


def determination_to_json(d: ProcedureDetermination) -> dict[str, Any]:
    return {
        "procedure": d.procedure_label,
        "orders": list(d.order_ids),
        "codes": list(d.codes),
        "kind": d.kind,
        "region": d.region,
        "levels": list(d.levels),
        "levelCount": d.level_count,
        "dateOfService": d.date_of_service,
        "policy": d.policy_id,
        "revision": d.revision_id,
        "revisionLabel": d.revision_label,
        "decision": d.decision.value if d.decision else None,
        "questionnaire": d.questionnaire,
        "criteria": [criterion_to_json(c) for c in d.criteria],
    }


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "procedures": [determination_to_json(d) for d in evaluation.determinations],
        "skippedResources": [
            {"resource": f"{s.resource_type}/{s.resource_id or '?'}", "problem": s.problem} for s in evaluation.skipped
        ],
        "outOfScopeOrders": list(evaluation.out_of_scope_order_ids),
    }


def _ids_with(full: dict[str, Any], status: Status) -> list[str]:
    return [c["id"] for c in full["criteria"] if c["result"] == status.value]


def audit_decision(d: ProcedureDetermination) -> dict[str, Any]:
    """The audit row's summary of one procedure: its decision and which criteria kept it from `covered`."""
    full = determination_to_json(d)
    return {
        **{k: full[k] for k in ("procedure", "orders", "revision", "decision")},
        "notMet": _ids_with(full, Status.NOT_MET),
        "needsDocumentation": _ids_with(full, Status.DOCUMENTATION),
    }


def describe_evidence(evidence: dict[str, str]) -> str:
    """One line for an evidence item of the full form (the same words as `Evidence.describe`)."""
    return ", ".join(evidence.values())


def assertion_criteria(d: ProcedureDetermination) -> list[dict[str, Any]]:
    """What a coverage assertion's audit row keeps per criterion: enough to explain the decision later."""
    return [
        {**{k: c[k] for k in ("id", "result", "reason")}, "evidence": [describe_evidence(e) for e in c["evidence"]]}
        for c in determination_to_json(d)["criteria"]
    ]
