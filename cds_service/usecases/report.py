"""The plain-text rendering of an evaluation, for the `evaluate` command (its JSON form: usecases/serialise.py)."""
from __future__ import annotations

from cds_service.cdshooks.presentation import dated_today_note, provenance_note
from cds_service.evaluation.results import Evaluation

DECISION_WORDS = {
    "covered": "COVERED — meets the policy",
    "not-covered": "NOT COVERED — criteria not met",
    "conditional": "CONDITIONAL — documentation needed",
    "indeterminate": "INDETERMINATE — the record could not be read",
}


def evaluation_to_text(evaluation: Evaluation) -> str:
    lines: list[str] = []
    if not evaluation.determinations:
        lines.append("No facet joint procedure (CP.MP.171 scope) among the orders.")
    for d in evaluation.determinations:
        lines.append(f"{d.procedure_label} — orders {', '.join(d.order_ids)} — date of service {d.date_of_service}"
                     f"{dated_today_note(d)}")
        if d.revision_id is None or d.decision is None:  # no decision exactly when no revision is in force
            lines.append("  No revision of CP.MP.171 was in force on that date: no decision.")
            continue
        lines.append(f"  {d.policy_id} revision {d.revision_label}{provenance_note(d)}: "
                     f"{DECISION_WORDS[d.decision.value]}")
        width = max(len(c.criterion_id) for c in d.criteria)
        for c in d.criteria:
            lines.append(f"  {c.criterion_id:<{width}}  {c.status.label:<19}  {c.reason}")
            for e in c.evidence:
                lines.append(f"  {'':<{width}}  {'':<19}    · {e.describe()}")
    for s in evaluation.skipped:
        lines.append(f"Skipped — {s.problem}")
    return "\n".join(lines)
