"""The patient-view readiness card: one card, one line per intervention and region, decision first.

Pure presentation of determinations the engine made on hypothetical orders (usecases/hypothetical_orders.py).
Wording, criteria table and evidence citations are shared with the order-sign card (presentation.py).

Indicator: always `info`. Nothing has been ordered yet, so there is nothing to warn about; patient-view
fires on every chart opening, and a warning for each back-pain patient whose record is incomplete would
train clinicians to ignore our cards. The order-sign card warns when a real order falls short.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from cds_service.cdshooks.presentation import (
    POLICY_TITLE,
    CardSettings,
    criteria_table,
    evidence_text,
    fit_summary,
    guideline_source,
    markdown_text,
    procedure_noun,
    revision_name,
)
from cds_service.evaluation.results import CriterionResult, Decision, ProcedureDetermination, Status
from cds_service.policy.terms import OrderKind

SUMMARY_VERDICTS = {
    Decision.COVERED: "ready",
    Decision.CONDITIONAL: "needs docs",
    Decision.NOT_COVERED: "not covered",
}
DETAIL_VERDICTS = {
    Decision.COVERED: "would be covered",
    Decision.CONDITIONAL: "needs documentation",
    Decision.NOT_COVERED: "not covered",
}
NOT_CHECKED = "not checked"
NOT_YET_SUMMARY = "not yet eligible"
NOT_YET_DETAIL = "not yet eligible: needs two diagnostic blocks"
# A criterion whose only failing is that the pathway has not got this far yet: fewer than two diagnostic
# blocks in the region (checks.two_positive_blocks). Anything else not met is positive contrary evidence
# (an exclusion, a region or level count, a block limit reached) and stays "not covered".
_EARLIER_IN_PATHWAY = re.compile(r"^[01] diagnostic blocks? in this region; two are required")
SHORT_NOUNS = {"block": "block", "rf": "RF", "therapeutic": "therapeutic"}
CLINICIAN_TYPES = frozenset({"Practitioner", "PractitionerRole"})
MAX_EVIDENCE = 6  # a covered line cites its strongest facts, not all of them


@dataclass(frozen=True)
class Readiness:
    """The engine's answer for one hypothetical order."""

    region: str
    intervention: str  # block | rf | therapeutic
    determination: ProcedureDetermination

    @property
    def decision(self) -> Decision | None:
        return self.determination.decision if self.determination.revision_id else None

    @property
    def blocking(self) -> tuple[CriterionResult, ...]:
        """The criteria that stand in the way: not met when not covered, else those needing documentation."""
        d = self.determination
        return d.not_met if self.decision is Decision.NOT_COVERED else d.needs_documentation

    @property
    def not_yet_eligible(self) -> bool:
        """Not covered only because the patient is earlier in the pathway (no contrary evidence)."""
        failed = self.determination.not_met
        return (self.decision is Decision.NOT_COVERED and bool(failed)
                and all(_EARLIER_IN_PATHWAY.match(c.reason) for c in failed))

    @property
    def short_noun(self) -> str:
        return "repeat RF" if self.determination.kind == OrderKind.RF_REPEAT else SHORT_NOUNS[self.intervention]


def readiness_card(items: Sequence[Readiness], *, settings: CardSettings, today: date,
                   new_uuid: Callable[[], str]) -> dict:
    first = items[0].determination
    label = first.revision_label or first.revision_id or "no revision"
    prefix = f"Facet readiness ({first.policy_id} {label}): "
    return _card(settings, new_uuid, summary=_summary(prefix, items), detail=_detail(items, today, settings))


def unavailable_card(*, policy_id: str, settings: CardSettings, new_uuid: Callable[[], str]) -> dict:
    """FHIR data could not be had: say so plainly; the cause goes to logs and audit, never to the card."""
    detail = (f"The patient's record could not be read just now, so readiness for facet joint interventions "
              f"under {policy_id} ({POLICY_TITLE}) was not checked. Reopen the chart to try again; "
              "orders are still checked when they are signed.")
    return _card(settings, new_uuid, summary=f"Facet readiness ({policy_id}): could not be checked right now",
                 detail=detail)


def _card(settings: CardSettings, new_uuid: Callable[[], str], *, summary: str, detail: str) -> dict:
    source = guideline_source(settings)
    link = {"label": f"Policy text: {POLICY_TITLE}", "url": settings.policy_url, "type": "absolute"}
    return {"uuid": new_uuid(), "summary": fit_summary(summary), "indicator": "info", "detail": detail,
            "source": source, "links": [link]}


# --- summary: as much as fits in 139 characters, most detailed first ------------------------------

def _summary(prefix: str, items: Sequence[Readiness]) -> str:
    for candidate in _summaries(prefix, items):
        if len(candidate) < 140:
            return candidate
    return fit_summary(prefix + _counts(items))


def _summaries(prefix: str, items: Sequence[Readiness]) -> Iterator[str]:
    for shown_ids in (None, 1, 0):
        yield prefix + "; ".join(
            f"{region} " + ", ".join(_item(r, shown_ids) for r in group) for region, group in _by_region(items)
        )
    yield prefix + _counts(items)


def _item(readiness: Readiness, shown_ids: int | None) -> str:
    verdict = NOT_YET_SUMMARY if readiness.not_yet_eligible else _words(SUMMARY_VERDICTS, readiness.decision)
    ids = [c.criterion_id for c in readiness.blocking] if readiness.decision is not Decision.COVERED else []
    kept = ids if shown_ids is None else ids[:shown_ids]
    more = f" +{len(ids) - len(kept)}" if kept and len(ids) > len(kept) else ""
    named = f" ({', '.join(kept)}{more})" if kept else ""
    return f"{readiness.short_noun} {verdict}{named}"


def _counts(items: Sequence[Readiness]) -> str:
    parts = []
    for region, group in _by_region(items):
        verdicts = [NOT_YET_SUMMARY if r.not_yet_eligible else _words(SUMMARY_VERDICTS, r.decision)
                    for r in group]
        parts.append(f"{region} " + ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts)))
    return "; ".join(parts)


def _words(table: dict[Decision, str], decision: Decision | None) -> str:
    return table.get(decision, NOT_CHECKED) if decision else NOT_CHECKED


def _by_region(items: Sequence[Readiness]) -> list[tuple[str, list[Readiness]]]:
    regions = dict.fromkeys(r.region for r in items)
    return [(region, [r for r in items if r.region == region]) for region in regions]


# --- detail: overview table, then each intervention with its criteria and evidence ----------------

def _detail(items: Sequence[Readiness], today: date, settings: CardSettings) -> str:
    first = items[0].determination
    against = revision_name(first) if first.revision_id else f"{first.policy_id} (no revision in force)"
    lines = [
        (f"**If ordered today ({today.isoformat()})**, checked against {against} and the record as it is now. "
         "The order itself is checked again when it is signed."),
        "",
        "| Intervention | Ordered today | Criteria in the way |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {_name(r)} | **{_verdict(r)}** | {_ids(r)} |" for r in items]
    for readiness in items:
        lines += ["", f"**{_name(readiness)}: {_verdict(readiness)}**", "", _explanation(readiness, settings)]
    return "\n".join(lines)


def _name(readiness: Readiness) -> str:
    d = readiness.determination
    return f"{procedure_noun(d)} ({', '.join(d.codes + d.levels)})"


def _verdict(readiness: Readiness) -> str:
    return NOT_YET_DETAIL if readiness.not_yet_eligible else _words(DETAIL_VERDICTS, readiness.decision)


def _ids(readiness: Readiness) -> str:
    if readiness.decision in (Decision.COVERED, None):
        return "—"
    return ", ".join(c.criterion_id for c in readiness.blocking) or "—"


def _explanation(readiness: Readiness, settings: CardSettings) -> str:
    d = readiness.determination
    if readiness.decision is None:
        return f"No revision of {d.policy_id} applies to {d.date_of_service}."
    if readiness.decision is Decision.COVERED:
        authorization = ("Prior authorization is required." if settings.pa_needed == "auth-needed"
                         else "No prior authorization is needed.")
        return f"Every applicable criterion is met. {authorization} Evidence: {_met_evidence(d)}."
    problems = d.not_met + d.needs_documentation
    if readiness.decision is Decision.CONDITIONAL:
        where = " or on the attestation form" if any(c.attestable for c in problems) else ""
        return f"Document these items in the chart{where} before ordering:\n\n{criteria_table(problems)}"
    return criteria_table(problems)


def _met_evidence(d: ProcedureDetermination) -> str:
    # The requester is whoever opened the chart, not a fact of the record: not worth citing here.
    cited = dict.fromkeys(markdown_text(evidence_text(e)) for c in d.criteria if c.status is Status.MET
                          for e in c.evidence
                          if e.resource_type not in CLINICIAN_TYPES)
    shown = list(cited)[:MAX_EVIDENCE]
    more = f" and {len(cited) - len(shown)} more" if len(cited) > len(shown) else ""
    return ("; ".join(shown) + more) if shown else "none needed beyond the order"
