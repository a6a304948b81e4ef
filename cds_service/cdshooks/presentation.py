"""How a determination reads to a clinician: card settings, summaries and the criteria table.

Plain words and GitHub-flavoured markdown only; the JSON shapes live in cards.py and
coverage_info.py. Readers have seconds: decision first, problems first, never error text.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cds_service.evaluation.results import (
    CriterionResult,
    Decision,
    Evidence,
    ProcedureDetermination,
    Status,
)
from cds_service.policy.conventions import ATC, CARD_TYPE_SYSTEM, CPT, ICD10CM, LOINC, RXNORM, SNOMED
from cds_service.policy.terms import OrderKind, Region

Hook = Literal["order-select", "order-sign"]
PaNeeded = Literal["auth-needed", "no-auth"]

POLICY_TITLE = "Facet Joint Interventions"
NOT_APPLICABLE_PREFIX = "Not applicable to this"  # tests parse the folded line by it
SUMMARY_LIMIT = 139  # CDS Hooks: summary SHALL be fewer than 140 characters


@dataclass(frozen=True)
class CardSettings:
    """What the plan configures about every answer (CDS_PLAN_NAME, CDS_POLICY_URL, CDS_PA_NEEDED)."""

    plan_name: str  # source.label: an insurer name the patient would recognise (CRD resp-4)
    policy_url: str
    pa_needed: PaNeeded = "auth-needed"
    documentation_app_url: str | None = None  # SMART launch URL of a documentation app
    source_url: str | None = None


_KIND_NOUNS = {  # every OrderKind (tests/unit/cdshooks): an injection of unstated intent is not named a block
    OrderKind.DIAGNOSTIC_BLOCK: "facet block",
    OrderKind.INJECTION_INTENT_UNKNOWN: "facet joint procedure",
    OrderKind.THERAPEUTIC_INJECTION: "therapeutic facet injection",
    OrderKind.RF_INITIAL: "facet RF ablation",
    OrderKind.RF_REPEAT: "repeat facet RF ablation",
    OrderKind.PULSED_RF: "pulsed RF of facet nerves",
}
_REGION_ADJECTIVES = {  # Region.ANY (64999 without a stated region) has none
    Region.LUMBAR: "Lumbar",
    Region.CERVICAL: "Cervical",
    Region.THORACIC: "Thoracic",
    Region.CERVICAL_OR_THORACIC: "Cervical/thoracic",
}
_SYSTEM_NAMES = {CPT: "CPT", ICD10CM: "ICD-10-CM", SNOMED: "SNOMED", LOINC: "LOINC", RXNORM: "RxNorm", ATC: "ATC"}
_DECISION_WORDS = {
    Decision.COVERED: "meets the policy",
    Decision.NOT_COVERED: "not covered",
    Decision.CONDITIONAL: "documentation needed",
    Decision.INDETERMINATE: "coverage could not be checked",
}
_PROBLEM_RANK = {Status.NOT_MET: 0, Status.DOCUMENTATION: 1}


def guideline_source(settings: CardSettings) -> dict:
    """`source` of a card that reports against the payer guideline: the plan's name, the CRD card-type topic."""
    source: dict = {"label": settings.plan_name,
                    "topic": {"system": CARD_TYPE_SYSTEM, "code": "guideline", "display": "Guideline"}}
    if settings.source_url:
        source["url"] = settings.source_url
    return source


def procedure_noun(determination: ProcedureDetermination) -> str:
    """Short human name of the procedure, e.g. "Lumbar facet block"."""
    noun = _KIND_NOUNS.get(determination.kind, "facet joint procedure")
    region = _REGION_ADJECTIVES.get(determination.region)
    return f"{region} {noun}" if region else noun[0].upper() + noun[1:]


def dated_today_note(determination: ProcedureDetermination) -> str:
    """" (today: the order names no date)" when today stood in for the date of service, else ""."""
    return " (today: the order names no date)" if determination.dated_today else ""


def provenance_note(determination: ProcedureDetermination) -> str:
    """" (reconstructed from …)" for a revision no published text of can be opened, else ""."""
    provenance = determination.revision_provenance
    return f" ({provenance})" if provenance not in (None, "published") else ""


def revision_name(determination: ProcedureDetermination) -> str:
    """The policy revision used, e.g. "CP.MP.171 revision 05/26"."""
    label = determination.revision_label or determination.revision_id
    return f"{determination.policy_id} revision {label}"


def decision_words(determination: ProcedureDetermination) -> str:
    """The decision in plain words, e.g. "documentation needed"."""
    return _DECISION_WORDS[determination.decision or Decision.INDETERMINATE]


def fit_summary(text: str) -> str:
    """Cut a summary to the CDS Hooks limit, ending with an ellipsis when cut."""
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "…"


def summary_for(determination: ProcedureDetermination) -> str:
    """The order-sign summary: procedure, decision and the one fact that explains it."""
    noun, policy = procedure_noun(determination), determination.policy_id
    if determination.revision_id is None:
        return fit_summary(f"{noun}: no {policy} revision applies to {determination.date_of_service}")
    decision = determination.decision
    if decision is Decision.COVERED:
        label = determination.revision_label or determination.revision_id
        return fit_summary(f"{noun}: meets {policy} ({label})")
    if decision is Decision.NOT_COVERED:  # name what failed: that is what the clinician can act on
        failed = determination.not_met
        if len(failed) == 1:
            # The finding, not the criterion's title: "not covered — ≥ 6 months since the previous RF" would
            # state the requirement as if it were the fact.
            because = f"{noun}: not covered — {failed[0].reason} ({failed[0].criterion_id})"
            if len(because) <= SUMMARY_LIMIT:
                return because
            if failed[0].title:
                return fit_summary(f"{noun}: not covered — fails {failed[0].criterion_id}: {failed[0].title}")
        return ids_summary(f"{noun}: not covered", failed)
    if decision is Decision.CONDITIONAL:
        return ids_summary(f"{noun}: documentation needed", determination.needs_documentation)
    return fit_summary(f"{noun}: coverage could not be checked (record unavailable)")


def ids_summary(prefix: str, criteria: Iterable[CriterionResult]) -> str:
    """`prefix (id, id, …)`, naming as many criterion ids as fit and counting the rest."""
    ids = [c.criterion_id for c in criteria]
    if not ids:
        return fit_summary(prefix)
    for shown in range(len(ids), 0, -1):
        rest = len(ids) - shown
        more = f" +{rest} more" if rest else ""
        text = f"{prefix} ({', '.join(ids[:shown])}{more})"
        if len(text) <= SUMMARY_LIMIT:
            return text
    return fit_summary(prefix)


def instructions_detail(determination: ProcedureDetermination, *, pa_needed: PaNeeded) -> str:
    """Markdown for the order-sign Instructions card: decision, order, next step, then the applicable criteria
    (problems first, in bold, then the met ones) and one line naming the not-applicable ones."""
    lines = [_decision_line(determination), "", order_line(determination)]
    next_step = _next_step(determination, pa_needed=pa_needed)
    if next_step:
        lines += ["", next_step]
    applicable = [c for c in determination.criteria if c.status is not Status.NOT_APPLICABLE]
    if applicable:
        lines += ["", criteria_table(applicable)]
    folded = not_applicable_line(determination)
    if folded:
        lines += ["", folded]
    if not determination.criteria:
        lines += ["", "The criteria were not checked."]
    return "\n".join(lines)


def not_applicable_line(determination: ProcedureDetermination) -> str | None:
    """Every not-applicable criterion id on one line: a clinician need not read a row for each (contract §4:
    each id still appears with its result)."""
    ids = [c.criterion_id for c in determination.criteria if c.status is Status.NOT_APPLICABLE]
    if not ids:
        return None
    noun = procedure_noun(determination)
    return f"{NOT_APPLICABLE_PREFIX} {noun[0].lower() + noun[1:]}: {', '.join(ids)}."


def no_revision_detail(determination: ProcedureDetermination) -> str:
    """Markdown for a date of service before the earliest revision of the policy."""
    return "\n".join([
        f"No revision of {determination.policy_id} ({POLICY_TITLE}) applies to the date of service "
        f"{determination.date_of_service}, so this order was not checked against it.",
        "",
        order_line(determination),
    ])


def criteria_table(criteria: Iterable[CriterionResult]) -> str:
    """A markdown table of criteria: not-met and needs-documentation rows first and in bold."""
    ordered = sorted(criteria, key=lambda c: _PROBLEM_RANK.get(c.status, 2))  # stable: policy order kept
    rows = ["| Criterion | Result | Why | Evidence |", "| --- | --- | --- | --- |"]
    rows += [_criterion_row(c) for c in ordered]
    return "\n".join(rows)


def evidence_text(evidence: Evidence) -> str:
    """`CPT 64493 on 2026-09-01 (Procedure/blk-1)`: what the record says first, the FHIR reference to open
    second (a clinician reads the words; a reviewer opens the reference)."""
    code = _code_text(evidence.code)
    named = f"{evidence.label} ({code})" if evidence.label and code else (evidence.label or code)
    words = ", ".join(part for part in (named, evidence.note) if part)
    if evidence.date and evidence.date not in words:  # "onset 2025-09-20" needs no "on 2025-09-20" after it
        words = f"{words} on {evidence.date}" if words else evidence.date
    return f"{words} ({evidence.reference})" if words else evidence.reference


def order_line(determination: ProcedureDetermination) -> str:
    """The order named in human terms (CRD dev-24: cards about a subset of orders say which)."""
    return (f"Order: {determination.procedure_label}; date of service {determination.date_of_service}"
            f"{dated_today_note(determination)}.")


def _decision_line(determination: ProcedureDetermination) -> str:
    revision = revision_name(determination) + provenance_note(determination)
    decision = determination.decision
    if decision is Decision.COVERED:
        return f"**Meets {revision}**: every applicable criterion is met."
    if decision is Decision.NOT_COVERED:
        failed = len(determination.not_met)
        return f"**Not covered** under {revision}: {failed} of {len(determination.criteria)} criteria not met."
    if decision is Decision.CONDITIONAL:
        missing = len(determination.needs_documentation)
        items = "item needs" if missing == 1 else "items need"
        return f"**Documentation needed** under {revision}: {missing} {items} documentation."
    return f"**Coverage could not be checked** against {revision}: the patient record was unavailable."


def _next_step(determination: ProcedureDetermination, *, pa_needed: PaNeeded) -> str | None:
    decision = determination.decision
    authorization = (
        "Prior authorization is required." if pa_needed == "auth-needed" else "No prior authorization is needed."
    )
    if decision is Decision.COVERED:
        return authorization
    if decision is Decision.CONDITIONAL:
        where = "in the chart"
        if any(c.attestable for c in determination.needs_documentation):
            where += f" or on the {determination.policy_id} attestation form"
        return f"Document the items marked **needs documentation** {where}. {authorization}"
    if decision is Decision.INDETERMINATE:
        return "Try again later, or check the criteria in the policy."
    return None


def _criterion_row(criterion: CriterionResult) -> str:
    problem = criterion.status in _PROBLEM_RANK
    name = f"**{criterion.criterion_id}**" if problem else criterion.criterion_id
    if criterion.title:
        name += f" {criterion.title}"
    result = criterion.status.label
    if criterion.settled_by_attestation:
        result += " (attested)"
    if problem:
        result = f"**{result}**"
    evidence = "; ".join(evidence_text(e) for e in criterion.evidence) or "—"
    # the reason and the evidence carry the record's words; the name and result are ours (bold included)
    cells = (name, result, markdown_text(criterion.reason or "—"), markdown_text(evidence))
    return "| " + " | ".join(_cell(text) for text in cells) + " |"


def _cell(text: str) -> str:
    # A bare "|" would end the cell and a newline would end the row.
    return " ".join(text.split()).replace("|", "\\|")


# EHRs render card detail as GFM with raw HTML allowed (the sandbox does): the record's words must stay words.
_MARKUP = str.maketrans({"\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]",
                         "*": "\\*", "_": "\\_", "~": "\\~", "`": "\\`"})


def markdown_text(text: str) -> str:
    """Text shown as itself in markdown, on one line: no HTML tags or entities, no link, image or emphasis
    syntax, no line break that could start a heading or a list."""
    return " ".join(text.split()).translate(_MARKUP)


def _code_text(code: str | None) -> str | None:
    if not code or "|" not in code:
        return code
    system, _, value = code.rpartition("|")
    name = _SYSTEM_NAMES.get(system)
    return f"{name} {value}" if name else value
