"""Plain-text and JSON renderings of an evaluation, for the `evaluate` command and the audit trail."""
from __future__ import annotations

from typing import Any

from cds_service.evaluation.results import Evaluation, ProcedureDetermination

DECISION_WORDS = {
    "covered": "COVERED — meets the policy",
    "not-covered": "NOT COVERED — criteria not met",
    "conditional": "CONDITIONAL — documentation needed",
    "indeterminate": "INDETERMINATE — the record could not be read",
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
        "criteria": [
            {
                "id": c.criterion_id,
                "title": c.title,
                "result": c.status.value,
                "reason": c.reason,
                "attestable": c.attestable,
                "settledByAttestation": c.settled_by_attestation,
                "evidence": [
                    {
                        k: v
                        for k, v in {"reference": e.reference, "date": e.date, "code": e.code, "note": e.note}.items()
                        if v
                    }
                    for e in c.evidence
                ],
            }
            for c in d.criteria
        ],
    }


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "procedures": [determination_to_json(d) for d in evaluation.determinations],
        "skippedResources": [
            {"resource": f"{s.resource_type}/{s.resource_id or '?'}", "problem": s.problem} for s in evaluation.skipped
        ],
        "outOfScopeOrders": list(evaluation.out_of_scope_order_ids),
    }


def evaluation_to_text(evaluation: Evaluation) -> str:
    lines: list[str] = []
    if not evaluation.determinations:
        lines.append("No facet joint procedure (CP.MP.171 scope) among the orders.")
    for d in evaluation.determinations:
        lines.append(f"{d.procedure_label} — orders {', '.join(d.order_ids)} — date of service {d.date_of_service}")
        if d.revision_id is None or d.decision is None:  # no decision exactly when no revision is in force
            lines.append("  No revision of CP.MP.171 was in force on that date: no decision.")
            continue
        lines.append(f"  {d.policy_id} revision {d.revision_label}: {DECISION_WORDS[d.decision.value]}")
        width = max(len(c.criterion_id) for c in d.criteria)
        for c in d.criteria:
            lines.append(f"  {c.criterion_id:<{width}}  {c.status.label:<19}  {c.reason}")
            for e in c.evidence:
                lines.append(f"  {'':<{width}}  {'':<19}    · {e.describe()}")
    for s in evaluation.skipped:
        lines.append(f"Skipped — {s.problem}")
    return "\n".join(lines)
