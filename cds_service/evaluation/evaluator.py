"""evaluate(): draft orders + a patient's record + a date → one determination per facet procedure.

Pure: no I/O, no clock (today is passed in). Criteria come from the policy data; checks from checks.py.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from cds_service.evaluation import clinical
from cds_service.evaluation.check_params import MaxLevels
from cds_service.evaluation.checks import ATTESTATION_ONLY_REASON, CHECKS, CheckContext, Outcome
from cds_service.evaluation.dates import months_before
from cds_service.evaluation.procedures import (
    OrderedProcedure,
    body_site_region,
    group_orders,
    level_names,
    names_pulsed_rf,
    order_date,
    stated_intent,
)
from cds_service.evaluation.record import PatientRecord
from cds_service.evaluation.results import (
    CriterionResult,
    Decision,
    Evaluation,
    Evidence,
    ProcedureDetermination,
    SkippedResource,
    Status,
)
from cds_service.policy.library import PolicyLibrary
from cds_service.policy.model import Criterion, Revision
from cds_service.policy.terms import DecidableAt, Family, Fix, Intent, OrderKind, Region, Zone

ATTESTATION_LOOKBACK_MONTHS = 12
KIND_WORDS = {
    OrderKind.DIAGNOSTIC_BLOCK: "diagnostic facet block",
    OrderKind.INJECTION_INTENT_UNKNOWN: "facet injection (intent not stated)",
    OrderKind.THERAPEUTIC_INJECTION: "therapeutic facet injection",
    OrderKind.RF_INITIAL: "facet RF neurotomy",
    OrderKind.RF_REPEAT: "repeat facet RF neurotomy",
    OrderKind.PULSED_RF: "pulsed RF of facet joints",
}


def decide(criteria: Sequence[CriterionResult], technical_problem: str | None) -> Decision:
    """Contract §4 "Out": not met → not-covered; else no data → indeterminate; else documentation → conditional."""
    statuses = {c.status for c in criteria}
    if Status.NOT_MET in statuses:
        return Decision.NOT_COVERED
    if technical_problem:
        return Decision.INDETERMINATE
    if Status.DOCUMENTATION in statuses:
        return Decision.CONDITIONAL
    return Decision.COVERED


_UNREAD_WHY = "the patient record could not be read in full"
UNREAD = f"not checked: {_UNREAD_WHY}"


def _unread(outcome: Outcome, *, order_select: bool) -> Outcome:
    """With part of the record unread, a "not recorded" could be untrue, and a "0 blocks" too: a documentation
    answer becomes "not checked" (its evidence kept), and so does a not met that cites nothing. What cites what
    was read stands, as does what the order alone says (an order-select criterion citing nothing)."""
    if outcome.status is Status.DOCUMENTATION and not (order_select and not outcome.evidence):
        return Outcome(Status.DOCUMENTATION, UNREAD, outcome.evidence,
                       attested_reason=f"attested by the clinician ({_UNREAD_WHY})")
    if outcome.status is Status.NOT_MET and not outcome.evidence and not order_select:
        return Outcome(Status.DOCUMENTATION, UNREAD, attested_reason=f"attested by the clinician ({_UNREAD_WHY})")
    return outcome


def _region(proc: OrderedProcedure, record: PatientRecord, library: PolicyLibrary, dos: date) -> Region:
    if proc.code.zone is Zone.LUMBAR:
        return Region.LUMBAR
    if proc.code.zone is Zone.ANY:  # 64999: the region comes from bodySite if anywhere
        return body_site_region(proc.body_sites()) or Region.ANY
    stated = body_site_region(proc.body_sites())
    if stated in (Region.CERVICAL, Region.THORACIC):
        return stated
    dx = clinical.diagnosis_regions(record, library.valuesets, dos) & {Region.CERVICAL, Region.THORACIC}
    return Region(dx.pop()) if len(dx) == 1 else Region.CERVICAL_OR_THORACIC


def _zone(proc: OrderedProcedure, region: Region) -> Zone | Region:
    """The code's zone, narrowed to the region when it is known: blocks of another region never count."""
    narrowed = proc.code.zone is Zone.CERVICAL_THORACIC and region in (Region.CERVICAL, Region.THORACIC)
    return region if narrowed else proc.code.zone


def _kind(proc: OrderedProcedure, priors: Sequence[clinical.PriorProcedure], zone: Zone | Region) -> OrderKind:
    """The order kind (policy/data/cp-mp-171/CRITERIA.md "Order kinds"); unstated intent is inferred from history."""
    if proc.code.family is Family.PULSED_RF or (proc.is_rf and names_pulsed_rf(proc.text)):
        return OrderKind.PULSED_RF
    if proc.is_rf:
        return OrderKind.RF_REPEAT if clinical.last_rf(priors, zone) else OrderKind.RF_INITIAL
    intent = stated_intent(proc.primary)
    if intent is Intent.THERAPEUTIC:
        return OrderKind.THERAPEUTIC_INJECTION
    if intent is Intent.DIAGNOSTIC:
        return OrderKind.DIAGNOSTIC_BLOCK
    done = clinical.diagnostic_blocks_since_last_rf(priors, zone)
    return OrderKind.DIAGNOSTIC_BLOCK if len(done) < 2 else OrderKind.INJECTION_INTENT_UNKNOWN


def _label(kind: OrderKind, region: Region, proc: OrderedProcedure, level_count: int | None) -> str:
    region_word = {Region.CERVICAL_OR_THORACIC: "Cervical/thoracic", Region.ANY: ""}.get(region, region.capitalize())
    levels = "" if level_count is None else f", {level_count} level{'s' if level_count != 1 else ''}"
    return f"{region_word} {KIND_WORDS[kind]} ({' + '.join(proc.codes)}){levels}".strip()


def _apply_attestation(
    criterion: Criterion, outcome: Outcome, answers: Mapping[str, tuple[bool, Evidence]]
) -> tuple[Outcome, bool]:
    """An attestation settles only what the record leaves open (contract §4 "Attestations")."""
    if not criterion.attestable or criterion.id not in answers:
        return outcome, False
    answer, evidence = answers[criterion.id]
    overridden = replace(outcome, reason=f"attested yes, but {outcome.reason}",
                         evidence=outcome.evidence + (evidence,))
    if outcome.status is Status.NOT_MET and answer:  # record evidence wins (contract §4), and the card says so
        return overridden, False
    if outcome.status is not Status.DOCUMENTATION:
        return outcome, False
    if answer and not outcome.attestation_settles:  # the record contradicts itself: only correcting it settles it
        return overridden, False
    if answer and outcome.attested_reason:
        return Outcome(Status.MET, outcome.attested_reason,
                       outcome.evidence + (evidence,)), True
    # Who settled it, then what was open before: the open item is told as past ("the record alone left open"),
    # never as a to-do the clinician has already done.
    only_attestable = outcome.reason.startswith(ATTESTATION_ONLY_REASON)
    before = "" if only_attestable else f"; the record alone left open: {outcome.reason}"
    verdict = "attested by the clinician" if answer else "attested as not met by the clinician"
    return Outcome(Status.MET if answer else Status.NOT_MET, f"{verdict}{before}", outcome.evidence + (evidence,)), True


def unique_evidence(evidence: Sequence[Evidence]) -> tuple[Evidence, ...]:
    """Each resource once per criterion, where it first appears, keeping its most informative entry (a note,
    then the longer note, then a date): "first treatment" and "last treatment" of one record are one line."""
    def weight(e: Evidence) -> tuple[int, int, int]:
        return (bool(e.note), len(e.note or ""), bool(e.date))

    best: dict[str, Evidence] = {}
    for e in evidence:
        kept = best.get(e.reference)
        if kept is None or weight(e) > weight(kept):
            best[e.reference] = e
    order = dict.fromkeys(e.reference for e in evidence)
    return tuple(best[ref] for ref in order)


def _max_levels(revision: Revision, kind: OrderKind) -> int | None:
    """The revision's own level limit for this kind of order (its `fix = "levels"` criterion), if any."""
    limits = [c.params for c in revision.criteria if c.fix is Fix.LEVELS and c.applies(kind)]
    return next((p.max_levels for p in limits if isinstance(p, MaxLevels)), None)


def evaluate_procedure(
    library: PolicyLibrary,
    record: PatientRecord,
    proc: OrderedProcedure,
    *,
    today: date,
    revision_id: str | None = None,
    technical_problem: str | None = None,
) -> ProcedureDetermination:
    dos = proc.date_of_service(today)
    revision = library.get(revision_id) if revision_id else library.revision_for(dos)
    priors = tuple(clinical.prior_facet_procedures(record, dos))
    region = _region(proc, record, library, dos)
    zone = _zone(proc, region)
    kind = _kind(proc, priors, zone)
    level_count, levels = proc.level_count(), tuple(level_names(proc.body_sites()))
    base = ProcedureDetermination(
        policy_id=library.revisions[0].policy,
        revision_id=revision.revision if revision else None,
        revision_label=revision.label if revision else None,
        revision_provenance=revision.provenance if revision else None,
        date_of_service=dos.isoformat(),
        order_ids=proc.order_ids,
        procedure_label=_label(kind, region, proc, level_count),
        kind=kind,
        region=region,
        codes=proc.codes,
        levels=levels,
        level_count=level_count,
        technical_problem=technical_problem,
        dated_today=order_date(proc.primary) is None,
    )
    if revision is None:
        return base  # before the earliest revision: no decision (contract §4 "Revision")

    ctx = CheckContext(
        record=record, valuesets=library.valuesets, nsaids=clinical.NsaidMatcher(library.valuesets), procedure=proc,
        kind=kind, region=region, zone=zone, dos=dos, priors=priors,
        level_count=level_count, levels=levels,
    )
    answers = clinical.attestations(
        record, revision.questionnaire_canonical, months_before(dos, ATTESTATION_LOOKBACK_MONTHS)
    )
    results = []
    for criterion in revision.criteria:
        if criterion.applies(kind):
            outcome = CHECKS[criterion.check](ctx, criterion.params)
            if technical_problem:
                outcome = _unread(outcome, order_select=criterion.decidable_at is DecidableAt.ORDER_SELECT)
            outcome, settled = _apply_attestation(criterion, outcome, answers)
        else:
            outcome, settled = Outcome(Status.NOT_APPLICABLE, f"does not apply to a {KIND_WORDS[kind]}"), False
        results.append(CriterionResult(criterion.id, outcome.status, outcome.reason, unique_evidence(outcome.evidence),
                                       criterion.title,
                                       criterion.attestable, settled, criterion.decidable_at, criterion.fix))
    return base.with_results(
        criteria=tuple(results),
        max_levels=_max_levels(revision, kind),
        decision=decide(results, technical_problem),
        questionnaire=revision.questionnaire_canonical,
    )


def evaluate(
    library: PolicyLibrary,
    resources: Iterable[Mapping[str, Any]],
    draft_orders: Iterable[Mapping[str, Any]],
    *,
    today: date,
    revision_id: str | None = None,
    technical_problem: str | None = None,
    skipped: Sequence[SkippedResource] = (),
) -> Evaluation:
    """Every in-scope procedure of the draft orders, decided against the revision in force on its date."""
    record = PatientRecord(resources)
    procedures, out_of_scope = group_orders(draft_orders, today)
    determinations = tuple(
        evaluate_procedure(
            library, record, proc, today=today, revision_id=revision_id, technical_problem=technical_problem
        )
        for proc in procedures
    )
    return Evaluation(determinations, tuple(skipped), tuple(out_of_scope))
