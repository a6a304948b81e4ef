"""The checks that decide criteria. A revision file names a check and gives its parameters.

Each check is `fn(ctx, params) -> Outcome`, `params` its typed model (check_params.py). `CHECK_PARAMS` gives
the loader each check's model, so a misspelt, missing or mistyped threshold fails at start-up, not on a call.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_service.evaluation import clinical, durations, episodes
from cds_service.evaluation.check_params import (
    AttestationOnly,
    FacetSyndromeFindings,
    FailedConservative,
    MaxBlocks,
    MaxLevels,
    MinMonths,
    MinRelief,
    NotRfCandidate,
    NsaidTrial,
    PainDuration,
    Prior,
    SecondBlock,
    SustainedRelief,
    SynovialCyst,
    TherapyTrial,
    TwoPositiveBlocks,
    UltrasoundCodes,
)
from cds_service.evaluation.clinical import NsaidMatcher, PriorProcedure, evidence_of, percent_text
from cds_service.evaluation.dates import add_months, months_before
from cds_service.evaluation.procedures import (
    OrderedProcedure,
    facet_code_of,
    is_other_interventional,
    level_names,
)
from cds_service.evaluation.record import (
    PatientRecord,
    codings,
    condition_onset,
    effective_date,
    numeric_value,
    one_or_many,
    performed_date,
    reference_id,
)
from cds_service.evaluation.results import Evidence, Status
from cds_service.policy.params import CheckParams, NoParams
from cds_service.policy.terms import INJECTION_FAMILIES, Family, Intent, OrderKind, Region, Zone
from cds_service.policy.valuesets import ValueSets

MET, NOT_MET, DOC, NA = Status.MET, Status.NOT_MET, Status.DOCUMENTATION, Status.NOT_APPLICABLE


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    # The reason to show when a "yes" attestation settles this documentation (None: the generic wording).
    attested_reason: str | None = None
    # False when the record contradicts itself: an attestation cannot settle it, the record must be corrected.
    attestation_settles: bool = True


@dataclass(frozen=True)
class CheckContext:
    record: PatientRecord
    valuesets: ValueSets
    nsaids: NsaidMatcher
    procedure: OrderedProcedure
    kind: OrderKind
    region: Region
    zone: Zone | Region  # the code's zone, narrowed to the region when it is known (evaluator._zone)
    dos: date
    priors: tuple[PriorProcedure, ...]
    level_count: int | None
    levels: tuple[str, ...]


CheckFn = Callable[[CheckContext, Any], Outcome]  # (ctx, the check's own CheckParams subclass)
CHECKS: dict[str, CheckFn] = {}
CHECK_PARAMS: dict[str, type[CheckParams]] = {}


def check(name: str, params: type[CheckParams]) -> Callable[[CheckFn], CheckFn]:
    """Register a check under the name revision files use, with the parameter model the loader enforces."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        CHECK_PARAMS[name] = params
        return fn

    return register


def _region_words(region: Region) -> str:
    return {"cervical-or-thoracic": "cervical or thoracic (not stated)"}.get(region, region)


# ---------------------------------------------------------------- headers and order facts

@check("preamble", NoParams)
def preamble(ctx: CheckContext, p: NoParams) -> Outcome:
    """Performed by a physician; only one procedure per visit."""
    others = ctx.procedure.others_in_session
    same_day = [
        proc for proc in ctx.record.of_type("Procedure")
        if proc.get("status") in ("completed", "in-progress") and performed_date(proc) == ctx.dos
        and (is_other_interventional(proc) or facet_code_of(proc))
    ]
    if others or same_day:
        ev = tuple(evidence_of(o) for o in others) + tuple(evidence_of(s, day=ctx.dos) for s in same_day)
        return Outcome(NOT_MET, "another interventional spine procedure is ordered or done at the same visit", ev)
    order = ctx.procedure.primary
    who = [order.get("performer"), order.get("requester")]
    refs = [r for x in who for r in (x if isinstance(x, list) else [x]) if r]
    clinician = [(rtype, rid) for r in refs for rtype in ("Practitioner", "PractitionerRole")
                 if (rid := reference_id(r, rtype))]
    if not clinician:
        return Outcome(DOC, "the order names no performing or requesting practitioner")
    rtype, rid = clinician[0]
    return Outcome(
        MET,
        # said as what it is: the record names a practitioner, and the service takes them as the physician
        "one procedure this visit; the practitioner on the order is taken as the performing physician",
        (Evidence(rtype, rid, note="requester/performer"),),
    )


@check("guidance", NoParams)
def guidance(ctx: CheckContext, p: NoParams) -> Outcome:
    if ctx.procedure.is_ultrasound:
        return Outcome(NOT_MET, f"ultrasound guidance ({ctx.procedure.code.code}); fluoroscopy or CT is required")
    return Outcome(MET, f"fluoroscopy/CT-guided code {ctx.procedure.code.code}")


@check("rf_technique_and_region", NoParams)
def rf_technique_and_region(ctx: CheckContext, p: NoParams) -> Outcome:
    if ctx.region == Region.THORACIC:
        return Outcome(NOT_MET, "thoracic RF neurotomy is not covered (lumbar or cervical only)")
    if ctx.region == Region.CERVICAL_OR_THORACIC:
        return Outcome(DOC, "region not stated: record the cervical (not thoracic) levels on the order (e.g. C5-C6)")
    return Outcome(MET, f"conventional RF, fluoroscopy/CT-guided, {ctx.region}")


@check("diagnostic_block_count", MaxBlocks)
def diagnostic_block_count(ctx: CheckContext, p: MaxBlocks) -> Outcome:
    if ctx.region == Region.THORACIC:
        return Outcome(NOT_MET, "facet injections are covered in the lumbar and cervical regions only")
    if ctx.region == Region.CERVICAL_OR_THORACIC:
        return Outcome(DOC, "region not stated: record the cervical (not thoracic) levels on the order (e.g. C5-C6)")
    done = clinical.diagnostic_blocks_since_last_rf(ctx.priors, ctx.zone)
    ev = tuple(b.evidence for b in done)
    if len(done) >= p.max_blocks:
        if ctx.kind == OrderKind.INJECTION_INTENT_UNKNOWN:
            return Outcome(
                DOC,
                f"{len(done)} diagnostic blocks already done and the order states no intent (diagnostic/therapeutic)",
                ev,
            )
        return Outcome(
            NOT_MET, f"{len(done)} diagnostic blocks already done in this region (limit {p.max_blocks})", ev
        )
    return Outcome(
        MET, f"{_region_words(ctx.region)}; this would be block {len(done) + 1} of up to {p.max_blocks}", ev
    )


@check("level_count", MaxLevels)
def level_count(ctx: CheckContext, p: MaxLevels) -> Outcome:
    levels = ", ".join(ctx.levels)
    if ctx.level_count is None:
        return Outcome(DOC, "add-on code means 3 or more levels; "
                       "name each level on the order (e.g. L3-L4, L4-L5, L5-S1)")
    if ctx.level_count > p.max_levels:
        return Outcome(
            NOT_MET, f"{ctx.level_count} levels ({levels or 'by codes'}); at most {p.max_levels} per session"
        )
    return Outcome(
        MET, f"{ctx.level_count} level{'s' if ctx.level_count != 1 else ''}" + (f" ({levels})" if levels else "")
    )


# Not medically necessary: one check per category the policy names (the criterion says which order it hits).
NOT_IN_CATEGORY = "the order is not in this category"


def _thoracic(ctx: CheckContext, hit: bool) -> Outcome:
    if not hit:
        return Outcome(NA, NOT_IN_CATEGORY)
    if ctx.region == Region.THORACIC:
        return Outcome(NOT_MET, "thoracic region: not medically necessary")
    if ctx.region == Region.CERVICAL_OR_THORACIC:
        return Outcome(DOC, "cervical/thoracic code without a stated region: "
                       "name the levels on the order (e.g. C5-C6 or T7-T8)")
    return Outcome(NA, f"{ctx.region} region")


@check("thoracic_injection_not_covered", NoParams)
def thoracic_injection_not_covered(ctx: CheckContext, p: NoParams) -> Outcome:
    return _thoracic(ctx, ctx.procedure.is_injection)


@check("thoracic_rf_not_covered", NoParams)
def thoracic_rf_not_covered(ctx: CheckContext, p: NoParams) -> Outcome:
    return _thoracic(ctx, ctx.kind in (OrderKind.RF_INITIAL, OrderKind.RF_REPEAT))


@check("pulsed_rf_not_covered", NoParams)
def pulsed_rf_not_covered(ctx: CheckContext, p: NoParams) -> Outcome:
    if ctx.kind == OrderKind.PULSED_RF:
        return Outcome(NOT_MET, "pulsed radiofrequency: not medically necessary")
    return Outcome(NA, NOT_IN_CATEGORY)


@check("ultrasound_not_covered", UltrasoundCodes)
def ultrasound_not_covered(ctx: CheckContext, p: UltrasoundCodes) -> Outcome:
    listed = [c for c in ctx.procedure.codes if c in p.codes]
    if listed:
        return Outcome(NOT_MET, f"ultrasound-guided code {', '.join(listed)} does not support coverage")
    return Outcome(NA, NOT_IN_CATEGORY)


@check("therapeutic_injection_not_covered", NoParams)
def therapeutic_injection_not_covered(ctx: CheckContext, p: NoParams) -> Outcome:
    if ctx.kind == OrderKind.THERAPEUTIC_INJECTION:
        return Outcome(NOT_MET, "therapeutic facet injection: not medically necessary in this revision")
    if ctx.kind == OrderKind.INJECTION_INTENT_UNKNOWN:
        return Outcome(DOC, "intent not stated and 2 diagnostic blocks already done: state diagnostic or therapeutic")
    return Outcome(NA, NOT_IN_CATEGORY)


# ---------------------------------------------------------------- pain and conservative therapy

def _dx_words(condition: Mapping[str, Any]) -> str:
    """A diagnosis in clinical words: its text or display, else its code."""
    code = condition.get("code")
    text = code.get("text") if isinstance(code, Mapping) else None
    display = next((str(c.get("display")) for c in codings(code) if c.get("display")), None)
    return str(text or display or clinical.coded(condition) or "the diagnosis")


@check("pain_duration", PainDuration)
def pain_duration(ctx: CheckContext, p: PainDuration) -> Outcome:
    """Duration of the current episode (contract §4): onset[x], never recordedDate; an ended episode is history."""
    birth = episodes.birth_date(ctx.record)
    conditions = clinical.spinal_pain_conditions(ctx.record, ctx.valuesets, p.pain_valuesets, ctx.dos)
    cutoff = months_before(ctx.dos, p.min_months)
    if not conditions:
        ended = clinical.ended_spinal_pain_conditions(ctx.record, ctx.valuesets, p.pain_valuesets, ctx.dos)
        if ended:
            c = max(ended, key=lambda x: episodes.abatement_of(x, birth) or date.min)  # the most recent episode
            when = episodes.abatement_of(c, birth)
            ended_on = f" on {when}" if when else ""
            return Outcome(DOC, f"{_dx_words(c)} is recorded as ended{ended_on} and no current back or neck "
                           "pain diagnosis is recorded: record the current episode: "
                           "its diagnosis and when the pain began",
                           tuple(evidence_of(x, day=episodes.abatement_of(x, birth), note="episode ended")
                                 for x in ended))
        return Outcome(DOC, "no back or neck pain diagnosis in the record: "
                       "record the diagnosis and when the pain began")
    mismatch = _region_mismatch(ctx, conditions)
    if mismatch:
        return mismatch
    conditions = _of_the_treated_region(ctx, conditions)
    onsets = [(episodes.onset_of(c, birth), c) for c in conditions]
    verdict = episodes.duration_verdict([o for o, _ in onsets], cutoff)
    dated = sorted(((o, c) for o, c in onsets if o.earliest), key=lambda oc: oc[0].earliest or date.min)
    if verdict == "not met":
        o, c = dated[0]
        treated = _conservative_before(ctx, p, cutoff)
        if treated and o.earliest and treated[0] < o.earliest:
            # Conservative therapy for spinal pain months before the recorded onset: the onset, not the pain,
            # is in question — not clean evidence that the pain is short (contract: not met needs positive evidence).
            day, what, resource = treated
            return Outcome(
                DOC,
                f"the onset recorded on the diagnosis ({o.text}, {_dx_words(c)}) conflicts with {what} from {day}: "
                "correct when the pain episode began",
                tuple(evidence_of(x, day=ox.earliest, note=f"onset {ox.text}") for ox, x in dated)
                + (evidence_of(resource, day=day, field=_code_field(resource), note=f"{what} from {day}"),),
                attestation_settles=False,
            )
        return Outcome(NOT_MET,
                       f"{_dx_words(c)} began {o.text}, less than {p.min_months} months before the procedure",
                       tuple(evidence_of(x, day=ox.earliest, note=f"onset {ox.text}") for ox, x in dated))
    if verdict == "documentation":
        undated = [c for o, c in onsets if o.latest is None]
        ev = tuple(evidence_of(c, day=o.earliest, note=f"onset {o.text} ({o.source})") for o, c in onsets)
        if undated:
            c = undated[0]
            o = episodes.onset_of(c, birth)
            recorded = clinical.parse_date(c.get("recordedDate"))
            if o.earliest:  # a recurrence: onset[x] is the first episode's
                why = f"{_dx_words(c)} recurred; the onset of the current episode is not recorded"
            else:
                why = f"{_dx_words(c)} {f'recorded {recorded} ' if recorded else ''}with no onset date"
            return Outcome(DOC, f"{why}: record when the pain began to show {p.min_months} months of pain", ev)
        o, c = dated[0]
        return Outcome(DOC, f"{_dx_words(c)} began {o.text}; cannot tell whether that is {p.min_months} months "
                       f"before the procedure: record the onset date", ev)
    o, c = next((o, c) for o, c in onsets if o.latest is not None and o.latest <= cutoff)
    since = o.text  # a day, or the span a coarse onset allows
    ev = (evidence_of(c, day=o.earliest, note=f"onset {o.text}"),)
    if not p.requires_adl:
        return Outcome(MET, f"{_dx_words(c)} since {since}", ev)
    scores = clinical.interference_scores(ctx.record, months_before(ctx.dos, p.lookback_months), ctx.dos)
    positive = [o for o in scores if (numeric_value(o) or 0) > 0]
    if positive:
        last = positive[-1]
        return Outcome(MET, f"{_dx_words(c)} since {since}, interfering with daily activities",
                       ev + (evidence_of(last, day=effective_date(last)),))
    return Outcome(DOC, f"{_dx_words(c)} since {since}; {_no_interference_words(ctx, p, scores)} "
                   "(record a pain-interference score)", ev)


def _no_interference_words(ctx: CheckContext, p: PainDuration, in_lookback: Sequence[Mapping[str, Any]]) -> str:
    """Why no interference score shows the ADL interference, in words that are true of this record."""
    if in_lookback:  # recorded, but none above 0
        last = in_lookback[-1]
        return f"the latest interference score ({effective_date(last)}) shows no interference with daily activities"
    older = clinical.interference_scores(ctx.record, date.min, ctx.dos)
    if older:
        return (f"no interference with daily activities is recorded in the {p.lookback_months} months before the "
                f"procedure (the last score is from {effective_date(older[-1])})")
    return "interference with daily activities is not recorded"


# The same procedure in the other part of the spine (CPT 64490-64492 ↔ 64493-64495, RF 64633/4 ↔ 64635/6),
# to name the likeliest intended code when the diagnoses are all of the other region.
OTHER_REGION_CODE = {"64490": "64493", "64491": "64494", "64492": "64495", "64633": "64635", "64634": "64636",
                     "0213T": "0216T", "0214T": "0217T", "0215T": "0218T"}
OTHER_REGION_CODE.update({v: k for k, v in list(OTHER_REGION_CODE.items())})
_ORDER_REGIONS = {Region.LUMBAR: {"lumbar"}, Region.CERVICAL: {"cervical"}, Region.THORACIC: {"thoracic"},
                  Region.CERVICAL_OR_THORACIC: {"cervical", "thoracic"}}
_PAIN_OF = {Region.LUMBAR: "low back pain with when it began", Region.CERVICAL: "neck pain with when it began",
           Region.THORACIC: "thoracic back pain with when it began",
           Region.CERVICAL_OR_THORACIC: "neck pain with when it began, and the cervical levels on the order"}


def _region_mismatch(ctx: CheckContext, conditions: Sequence[Mapping[str, Any]]) -> Outcome | None:
    """Every spinal pain diagnosis names a region and none is the order's: the pain of the region to be treated
    is not shown (a lumbar episode is not ≥ 3 months of neck pain) — most often a mis-picked code."""
    wanted = _ORDER_REGIONS.get(ctx.region)
    spans = [clinical.condition_spans(ctx.valuesets, c) for c in conditions]
    if not wanted or not spans or any(not s or s & wanted for s in spans):
        return None
    regions = [clinical.condition_region(ctx.valuesets, c) or "/".join(sorted(s)) for c, s in
               zip(conditions, spans, strict=True)]
    code = ctx.procedure.code.code
    named = sorted(set(regions))
    theirs = " and ".join(named)
    other = OTHER_REGION_CODE.get(code)
    place = {"cervical-or-thoracic": "cervical/thoracic"}.get(ctx.region, str(ctx.region))
    check_code = f"check the code ({other} for {named[0]})" if other and len(named) == 1 else "check the code"
    return Outcome(
        DOC,
        f"the order is {place} ({code}) but the only spinal pain diagnoses are {theirs}: {check_code}, or record "
        f"{_PAIN_OF[ctx.region]}",
        tuple(evidence_of(c, day=condition_onset(c), note=f"{r} diagnosis")
              for c, r in zip(conditions, regions, strict=True)),
    )


def _of_the_treated_region(ctx: CheckContext, conditions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The diagnoses whose pain the order treats: those of its region and those naming none (the mismatch case,
    where none is left, was answered before). Years of low back pain are not three months of neck pain."""
    wanted = _ORDER_REGIONS.get(ctx.region)
    if not wanted:
        return list(conditions)
    kept = []
    for c in conditions:
        spans = clinical.condition_spans(ctx.valuesets, c)
        if not spans or spans & wanted:
            kept.append(c)
    return kept  # never empty: _region_mismatch answered the all-other-regions case first


def _code_field(resource: Mapping[str, Any]) -> str:
    return "medicationCodeableConcept" if resource.get("medicationCodeableConcept") else "code"


def _conservative_before(
    ctx: CheckContext, p: PainDuration, cutoff: date
) -> tuple[date, str, Mapping[str, Any]] | None:
    """The earliest PT/home exercise or NSAID therapy in the look-back, when it is dated on or before the cutoff
    (so it alone spans the required months): (day, what, resource)."""
    start = months_before(ctx.dos, p.lookback_months)
    found: list[tuple[date, str, Mapping[str, Any]]] = []
    if p.therapy_valuesets:
        hep = p.home_exercise_valuesets or ()
        sessions = clinical.therapy_sessions(ctx.record, ctx.valuesets, p.therapy_valuesets, start, ctx.dos,
                                             home_exercise=hep)
        if sessions:
            first = sessions[0]
            opened = clinical.evaluation_before(ctx.record, ctx.valuesets, p.therapy_valuesets, start, first.first)
            day, resource = opened if opened else (first.first, first.resource)
            found.append((day, "physical therapy", resource))
    found += [(c.start, f"NSAID therapy ({c.name})", _course_resource(ctx, c)) for c in
              clinical.nsaid_courses(ctx.record, ctx.nsaids, start, ctx.dos) if c.start >= start]
    found = [f for f in found if f[0] <= cutoff]
    return min(found, key=lambda f: f[0]) if found else None


def _course_resource(ctx: CheckContext, course: clinical.NsaidCourse) -> Mapping[str, Any]:
    ref = course.evidence
    for kind in ("MedicationStatement", "MedicationRequest", "MedicationDispense"):
        for r in ctx.record.of_type(kind):
            if kind == ref.resource_type and str(r.get("id")) == ref.resource_id:
                return r
    return {"resourceType": ref.resource_type, "id": ref.resource_id}


def _last_conservative_day(ctx: CheckContext, p: FailedConservative, start: date) -> date | None:
    """The last dated day of PT/HEP treatment or NSAID therapy in the look-back."""
    sessions = clinical.therapy_sessions(ctx.record, ctx.valuesets, p.therapy_valuesets, start, ctx.dos,
                                         home_exercise=p.home_exercise_valuesets)
    courses = clinical.nsaid_courses(ctx.record, ctx.nsaids, start, ctx.dos)
    days = [s.last for s in sessions] + [c.end or c.start for c in courses]
    return max(days) if days else None


@check("failed_conservative", FailedConservative)
def failed_conservative(ctx: CheckContext, p: FailedConservative) -> Outcome:
    start = months_before(ctx.dos, p.lookback_months)
    last = _last_conservative_day(ctx, p, start)
    if last is None:
        return Outcome(DOC, "no conservative therapy recorded in the look-back")
    after = [
        o for o in clinical.pain_scores(ctx.record, last, ctx.dos) if (numeric_value(o) or 0) >= p.min_pain_score
    ]
    if after:
        o = after[-1]
        return Outcome(
            MET,
            f"pain still {numeric_value(o):g}/10 after conservative therapy (last {last})",
            (evidence_of(o, day=effective_date(o)),),
        )
    return Outcome(DOC, f"no pain score after conservative therapy ended ({last}) shows it failed")


def synovial_cyst(ctx: CheckContext, p: SynovialCyst) -> Outcome:
    cysts = clinical.active_conditions_in(ctx.record, ctx.valuesets, p.cyst_valuesets, ctx.dos)
    radic = clinical.active_conditions_in(ctx.record, ctx.valuesets, p.radiculopathy_valuesets, ctx.dos)
    if not (cysts and radic):
        return Outcome(NA, "no facet synovial cyst with radiculopathy recorded")
    ev = (evidence_of(cysts[0], day=condition_onset(cysts[0])), evidence_of(radic[0], day=condition_onset(radic[0])))
    scores = clinical.pain_scores(ctx.record, months_before(ctx.dos, p.lookback_months), ctx.dos)
    severe = [o for o in scores if (numeric_value(o) or 0) >= p.min_pain_score]
    if severe:
        return Outcome(
            MET,
            "facet synovial cyst with radicular pain: therapy not required",
            ev + (evidence_of(severe[-1], day=effective_date(severe[-1])),),
        )
    return Outcome(DOC, "synovial cyst with radiculopathy; severity of radicular pain not recorded", ev)


@check("synovial_cyst_exception", SynovialCyst)
def synovial_cyst_exception(ctx: CheckContext, p: SynovialCyst) -> Outcome:
    return synovial_cyst(ctx, p)


@check("therapy_trial", TherapyTrial)
def therapy_trial(ctx: CheckContext, p: TherapyTrial) -> Outcome:
    start = months_before(ctx.dos, p.lookback_months)
    names = p.therapy_valuesets
    hep = p.home_exercise_valuesets
    sessions = clinical.therapy_sessions(ctx.record, ctx.valuesets, names, start, ctx.dos, home_exercise=hep)
    span = 0
    ev: tuple[Evidence, ...] = ()
    if sessions:
        first, last = min(s.first for s in sessions), max(s.last for s in sessions)
        opened = clinical.evaluation_before(ctx.record, ctx.valuesets, names, start, first)
        head = (
            (opened[1], "evaluation opening the plan of care") if opened else (sessions[0].resource, "first treatment")
        )
        first = opened[0] if opened else first
        span = durations.span_days(first, last)
        ev = (
            evidence_of(head[0], day=first, note=head[1]),
            evidence_of(
                sessions[-1].resource, day=performed_date(sessions[-1].resource), note=f"last treatment (to {last})"
            ),
        )
        if sessions[-1].resource is head[0]:  # one record is both: say it once
            dated = f"{first} to {last}" if last != first else str(first)
            ev = (evidence_of(head[0], day=first, note=f"the only treatment record ({dated})"),)
        if span >= p.min_days:
            return Outcome(
                MET,
                f"therapy {first} to {last} ({span} days, {len(sessions)} treatment "
                f"record{'s' if len(sessions) > 1 else ''})",
                ev,
            )
    if p.allow_intolerance:
        stopped = clinical.therapy_not_tolerated(ctx.record, ctx.valuesets, names, start, ctx.dos)
        if stopped:
            return Outcome(
                MET, "physical therapy not tolerated (documented)", (evidence_of(stopped, day=performed_date(stopped)),)
            )
    if p.exception is not None:  # the exception criterion's own parameters (resolved at load)
        exception = synovial_cyst(ctx, p.exception)
        if exception.status is MET:
            return Outcome(MET, f"not required: {exception.reason} ({p.exception_criterion})", exception.evidence)
    # A programme with no recorded length could make up the rest: only documentation can settle it.
    programmes = clinical.open_programmes(ctx.record, ctx.valuesets, names, start, ctx.dos, home_exercise=hep)
    if programmes:
        what = "; ".join(f"{_therapy_name(ctx, r, hep)} from {day}: {missing}" for day, r, missing in programmes[:3])
        done = f" (treatment dated {span} days so far)" if span else ""
        return Outcome(DOC, f"{what}{done}; record its duration (start and end dates) to show {p.min_days} days",
                       ev + tuple(evidence_of(r, day=day) for day, r, _ in programmes[:3]))
    if sessions:
        return Outcome(NOT_MET, f"therapy lasted {span} days ({first} to {last}); {p.min_days} needed", ev)
    return Outcome(
        DOC,
        f"no physical therapy or home exercise treatment recorded {_window(p.lookback_months, p.lookback_note)} "
        "(an evaluation alone is not treatment); record the treatment dates",
    )


def _therapy_name(ctx: CheckContext, resource: Mapping[str, Any], home_exercise: Sequence[str]) -> str:
    concept = resource.get("code") if resource.get("resourceType") != "CarePlan" else resource.get("category")
    text = clinical.concept_label(concept)
    if len(text) > 60:  # cut at a word, visibly: a name cut mid-word reads as a different thing
        text = text[:60].rsplit(" ", 1)[0] + "…"
    hep = (
        ctx.valuesets.matching(home_exercise, codings(concept)) or resource.get("resourceType") == "CarePlan"
    )
    return text or ("home exercise programme" if hep else "physical therapy")


def _window(months: int, note: str | None) -> str:
    """"in the past 12 months" when the policy sets the window; else say it is the months we reviewed."""
    return f"in the {months} months reviewed ({note})" if note else f"in the past {months} months"


@check("nsaid_trial", NsaidTrial)
def nsaid_trial(ctx: CheckContext, p: NsaidTrial) -> Outcome:
    contra = clinical.nsaid_contraindication(ctx.record, ctx.valuesets, ctx.nsaids, ctx.dos,
                                             contraindications=p.contraindication_valuesets, egfr_below=p.egfr_below)
    if contra:
        return Outcome(MET, "NSAIDs contraindicated or not tolerated", (contra,))
    months, need = p.lookback_months, p.min_days
    exposure = clinical.nsaid_exposure(ctx.record, ctx.nsaids, months_before(ctx.dos, months), ctx.dos)
    if exposure.days >= need:
        return Outcome(MET, f"{exposure.days} days of NSAIDs {_window(months, p.lookback_note)}", exposure.evidence)
    if exposure.open and exposure.most_days >= need:
        # Never "only 1 days": a course whose length is unknown is documentation, named with what is missing.
        what = "; ".join(f"{c.name} from {c.start}: {c.missing}" for c in exposure.open[:3])
        dated = f" ({exposure.days} days dated)" if exposure.days else ""
        return Outcome(
            DOC, f"{what}{dated}; record the end date or days' supply to show {need} days", exposure.evidence
        )
    if exposure.open:  # dated starts leave no room for the rest, even if every open course ran to today
        c = exposure.open[0]
        return Outcome(
            NOT_MET,
            f"{c.name} from {c.start} ({c.missing}): even so, at most {exposure.most_days} days of NSAIDs "
            f"are possible {_window(months, p.lookback_note)}; {need} needed",
            exposure.evidence,
        )
    if exposure.days:
        return Outcome(
            NOT_MET, f"{exposure.days} days of NSAIDs {_window(months, p.lookback_note)}; {need} needed",
            exposure.evidence,
        )
    return Outcome(
        DOC,
        f"no NSAID use recorded {_window(months, p.lookback_note)}; record the NSAID, its dates, or why NSAIDs are "
        "contraindicated",
    )


# What only the clinician can say: the reason names where to say it.
ATTESTATION_ONLY_REASON = "not shown by structured data"


@check("attestation_only", AttestationOnly)
def attestation_only(ctx: CheckContext, p: AttestationOnly) -> Outcome:
    if p.rf_order_counts:
        for sr in ctx.record.of_type("ServiceRequest") + list(
            ctx.procedure.others_in_session + ctx.procedure.later_orders
        ):
            fc = facet_code_of(sr)
            if fc and fc.family == Family.RF and sr.get("status") in ("draft", "active", None):
                return Outcome(MET, "an RF neurotomy order exists", (evidence_of(sr),))
    what = f"document {p.document}" if p.document else "record it"
    return Outcome(DOC, f"{ATTESTATION_ONLY_REASON}: {what} in the attestation questionnaire")


@check("facet_syndrome_findings", FacetSyndromeFindings)
def facet_syndrome_findings(ctx: CheckContext, p: FacetSyndromeFindings) -> Outcome:
    """Exclusions count when established and active on the date; a provisional/differential one is a question."""
    names = p.exclusion_valuesets
    exclusions = clinical.active_conditions_in(ctx.record, ctx.valuesets, names, ctx.dos)
    unconfirmed = clinical.active_conditions_in(ctx.record, ctx.valuesets, names, ctx.dos, unconfirmed=True)
    # Bone/marrow neoplasms with no site (C79.51, C90.0, …) raise the question of the spine; they do not settle it.
    site_unstated = [
        c for c in exclusions if ctx.valuesets.matching(p.site_not_stated_valuesets, codings(c.get("code")))
    ]
    exclusions = [c for c in exclusions if c not in site_unstated]
    excepted: list[Mapping[str, Any]] = []  # radiculopathy the synovial-cyst exception may excuse
    cyst: list[Mapping[str, Any]] = []
    if p.synovial_cyst_exception and p.radiculopathy_valuesets:
        radiculopathy = p.radiculopathy_valuesets
        radic = {id(c) for flag in (False, True)
                 for c in clinical.active_conditions_in(ctx.record, ctx.valuesets, radiculopathy, ctx.dos,
                                                        unconfirmed=flag)}
        cysts = p.cyst_valuesets or ()
        cyst = clinical.active_conditions_in(ctx.record, ctx.valuesets, cysts, ctx.dos)
        cyst_q = clinical.active_conditions_in(ctx.record, ctx.valuesets, cysts, ctx.dos, unconfirmed=True)
        if cyst:  # radiculopathy caused by a facet synovial cyst is allowed
            excepted = [c for c in exclusions if id(c) in radic]
            exclusions = [c for c in exclusions if id(c) not in radic]
            unconfirmed = [c for c in unconfirmed if id(c) not in radic]
        elif cyst_q:  # the excuse is itself unconfirmed: the radiculopathy becomes a question
            unconfirmed += [c for c in exclusions if id(c) in radic]
            exclusions = [c for c in exclusions if id(c) not in radic]
    if exclusions:
        c = exclusions[0]
        return Outcome(NOT_MET, f"active {_dx_words(c).lower()} suggests another cause",
                       tuple(evidence_of(x, day=condition_onset(x)) for x in exclusions))
    if site_unstated and not unconfirmed:
        c = site_unstated[0]
        return Outcome(
            DOC,
            f"{_dx_words(c).lower()} is recorded without a site: document whether the spine is "
            "involved "
            "(imaging report or a site-specific diagnosis)",
            tuple(evidence_of(x, day=condition_onset(x)) for x in site_unstated),
        )
    if unconfirmed:
        c = unconfirmed[0]
        status = clinical.status_code(c.get("verificationStatus")) or "unconfirmed"
        return Outcome(
            DOC,
            f"{_dx_words(c).lower()} is {status}, not established: confirm it or rule it out in the record "
            "before facet syndrome can be accepted",
            tuple(
                evidence_of(x, day=condition_onset(x), note=clinical.status_code(x.get("verificationStatus")))
                for x in unconfirmed
            ),
        )
    if excepted and cyst:
        # "except for radiculopathy caused by a facet joint synovial cyst": the codes show the two together,
        # never that the cyst causes it — that, like the findings and imaging, is the clinician's to attest.
        r, c = excepted[0], cyst[0]
        radic_words = _dx_onset_words(r, kind="radiculopathy")
        cyst_words = _dx_onset_words(c, kind="facet synovial cyst")
        return Outcome(
            DOC,
            f"{radic_words} is excepted only if the {cyst_words} causes it; the record "
            "does not show the cause: that the cyst causes the radicular pain, the facet syndrome findings and the "
            "imaging need the clinician's attestation",
            tuple(evidence_of(x, day=condition_onset(x)) for x in (r, c)),
            attested_reason=f"{radic_words} is excepted because the clinician attests it is caused by the "
            f"{cyst_words}; facet syndrome findings and imaging attested",
        )
    return Outcome(DOC, "no exclusion diagnosis; facet syndrome findings and imaging need the clinician's attestation")


def _dx_onset_words(condition: Mapping[str, Any], *, kind: str) -> str:
    """"radiculopathy (M54.16, since 2026-07-20)": what the condition is to this criterion, its code and onset,
    and the chart's own display when it does not say so (M71.38 reads "other bursal cyst, other site")."""
    code = next((str(c.get("code")) for c in codings(condition.get("code")) if c.get("code")), None)
    display = next((str(c.get("display")) for c in codings(condition.get("code")) if c.get("display")), None)
    onset = condition_onset(condition)
    recorded = f"recorded as “{display}”" if display and kind.split(" ", 1)[-1] not in display.lower() else None
    inner = ", ".join(x for x in (code, recorded, f"since {onset}" if onset else None) if x)
    return f"{kind} ({inner})" if inner else kind


# ---------------------------------------------------------------- blocks, relief, RF

def _relief_text(relief: clinical.Relief | None) -> str:
    return "not recorded" if relief is None else percent_text(relief.percent)


@check("second_block", SecondBlock)
def second_block(ctx: CheckContext, p: SecondBlock) -> Outcome:
    done = clinical.diagnostic_blocks_since_last_rf(ctx.priors, ctx.zone)
    if not done:
        return Outcome(NA, "first diagnostic block")
    if not p.every_repeat and len(done) != 1:
        return Outcome(NA, "not a second block")
    first, last = done[0], done[-1]
    gap = (ctx.dos - last.day).days
    ev: tuple[Evidence, ...] = (last.evidence,)
    if gap < p.min_interval_days:
        return Outcome(
            NOT_MET, f"{gap} days after the previous block on {last.day}; at least {p.min_interval_days} needed", ev
        )
    if p.min_relief_percent is None:
        return Outcome(MET, f"{gap} days after the previous block", ev)
    relief = clinical.relief_after_block(ctx.record, first.resource)
    ev = (first.evidence,) + (relief.evidence if relief else ())
    if relief is not None and relief.percent < p.min_relief_percent:
        return Outcome(
            NOT_MET, f"first block gave {_relief_text(relief)} relief; {p.min_relief_percent}% needed", ev
        )
    prior_levels = tuple(
        level_names([s for m in first.members or (first.resource,) for s in one_or_many(m.get("bodySite"))])
    )
    # "At the same level(s)": a confirmatory block may repeat all or some of the blocked levels (it confirms
    # those), never a level the first block did not test.
    surely_untested, unlike = _untested_levels(ctx.levels, prior_levels)
    if prior_levels and surely_untested:
        return Outcome(
            NOT_MET,
            f"{', '.join(surely_untested)} {'was' if len(surely_untested) == 1 else 'were'} not blocked in the "
            f"first block ({', '.join(prior_levels)}); a confirmatory block repeats the levels already blocked",
            ev,
        )
    if prior_levels and unlike:
        return Outcome(
            DOC, f"the first block names {', '.join(prior_levels)}, this order {', '.join(unlike)}: record both by "
            "joint (e.g. L4-L5) to show the confirmatory block repeats the levels already blocked", ev
        )
    if relief is None:
        return Outcome(DOC, "relief after the first block is not recorded", ev)
    if not (prior_levels and ctx.levels):
        return Outcome(
            DOC, f"first block gave {_relief_text(relief)}; same levels cannot be confirmed "
            "(the levels are not recorded on the orders)", ev
        )
    same = "same levels"
    if set(ctx.levels) != set(prior_levels):
        same = f"{', '.join(ctx.levels)} of the first block's {', '.join(prior_levels)}"
    return Outcome(MET, f"first block gave {_relief_text(relief)} relief; {same}; {gap} days apart", ev)


def _untested_levels(levels: Sequence[str], prior: Sequence[str]) -> tuple[list[str], list[str]]:
    """(levels surely not blocked before, levels that cannot be compared). A joint ("L4-L5") and nerves ("L3+L4
    medial branches") may name the same level and anatomy is not guessed, so only levels named alike can show
    that the first block did not test one; nerves are compared by their segments ("L4" and "L5" = "L4+L5")."""
    prior_joints = [lv for lv in prior if _names_a_joint(lv)]
    prior_segments = {seg for lv in prior if not _names_a_joint(lv) for seg in _segments(lv)}
    surely: list[str] = []
    unlike: list[str] = []
    for level in levels:
        if level in prior:
            continue
        if _names_a_joint(level):
            (unlike if prior_segments else surely).append(level)
        elif not _segments(level) <= prior_segments:
            (unlike if prior_joints else surely).append(level)
    return surely, unlike


def _names_a_joint(level: str) -> bool:
    """"L4-L5" names a joint; "L3+L4 medial branches" or a lone "L4" names nerves or a segment."""
    return "-" in level and "medial" not in level


def _segments(level: str) -> set[str]:
    return set(re.findall(r"[CTLS]\d+", level.upper()))


@check("first_block_relief_note", MinRelief)
def first_block_relief_note(ctx: CheckContext, p: MinRelief) -> Outcome:
    if ctx.kind not in (OrderKind.DIAGNOSTIC_BLOCK, OrderKind.INJECTION_INTENT_UNKNOWN):
        return Outcome(NA, "not a diagnostic block")
    done = clinical.diagnostic_blocks_since_last_rf(ctx.priors, ctx.zone)
    if not done:
        return Outcome(NA, "first diagnostic block")
    relief = clinical.relief_after_block(ctx.record, done[0].resource)
    if relief is None:  # whether the Note applies is unknown: the first block's relief decides it
        if p.relief_asked_by:
            return Outcome(NA, f"relief after the first block on {done[0].day} is not recorded", (done[0].evidence,))
        return Outcome(DOC, f"relief after the first block on {done[0].day} is not recorded: a second block needs "
                       f"≥ {p.min_relief_percent}% from it", (done[0].evidence,))
    if relief.percent < p.min_relief_percent:
        return Outcome(
            NOT_MET,
            f"first block gave {_relief_text(relief)} relief (< {p.min_relief_percent}%): a second block is not "
            "medically necessary",
            (done[0].evidence,) + relief.evidence,
        )
    return Outcome(NA, f"first block gave {_relief_text(relief)} relief (≥ {p.min_relief_percent}%)",
                   (done[0].evidence,) + relief.evidence)


@check("two_positive_blocks", TwoPositiveBlocks)
def two_positive_blocks(ctx: CheckContext, p: TwoPositiveBlocks) -> Outcome:
    if ctx.region == Region.THORACIC and ctx.kind in (OrderKind.RF_INITIAL, OrderKind.RF_REPEAT):
        # thoracic RF is not medically necessary (I.E): the card must not invite thoracic blocks for it
        return Outcome(NA, "a thoracic RF neurotomy is not covered whatever the blocks (I.E)")
    blocks = clinical.diagnostic_blocks(ctx.priors, ctx.zone)
    if len(blocks) < 2:
        return Outcome(
            NOT_MET,
            f"{len(blocks)} diagnostic block{'s' if len(blocks) != 1 else ''} in this region; two are required",
            tuple(b.evidence for b in blocks),
        )
    reliefs = [(b, clinical.relief_after_block(ctx.record, b.resource)) for b in blocks]
    good = [(b, r) for b, r in reliefs if r is not None and r.percent >= p.min_relief_percent]
    unknown = [(b, r) for b, r in reliefs if r is None]
    ev = tuple(e for b, r in reliefs for e in (b.evidence,) + (r.evidence if r else ()))
    summary = "; ".join(f"{b.day}{_at_levels(b)}: {_relief_text(r)}" for b, r in reliefs)
    if len(good) >= 2:
        if p.requires_function_attestation:
            return Outcome(
                DOC, f"relief {summary}; ability to perform previously painful movements needs attestation", ev
            )
        return Outcome(MET, f"two blocks with ≥ {p.min_relief_percent}% relief ({summary})", ev)
    if len(good) + len(unknown) >= 2:
        return Outcome(DOC, f"relief after each block must be recorded ({summary})", ev)
    return Outcome(NOT_MET, f"fewer than two blocks with ≥ {p.min_relief_percent}% relief ({summary})", ev)


def _at_levels(block: PriorProcedure) -> str:
    """" at L4-L5, L5-S1" from the block's bodySite (every Procedure of its session); "" when not recorded."""
    levels = level_names([s for m in block.members or (block.resource,) for s in one_or_many(m.get("bodySite"))])
    return f" at {', '.join(levels)}" if levels else ""


@check("rf_interval", MinMonths)
def rf_interval(ctx: CheckContext, p: MinMonths) -> Outcome:
    rf = clinical.last_rf(ctx.priors, ctx.zone)
    if rf is None:
        return Outcome(NA, "no previous RF neurotomy in this region")
    due = add_months(rf.day, p.min_months)
    if ctx.dos < due:
        return Outcome(NOT_MET, f"previous RF on {rf.day}; a repeat is possible from {due}", (rf.evidence,))
    return Outcome(MET, f"previous RF on {rf.day} (≥ {p.min_months} months ago)", (rf.evidence,))


def _prior_for(ctx: CheckContext, prior: Prior) -> PriorProcedure | None:
    if prior is Prior.RF:
        return clinical.last_rf(ctx.priors, ctx.zone)
    therapeutic = [
        x
        for x in ctx.priors
        if x.family in INJECTION_FAMILIES and x.intent is Intent.THERAPEUTIC and clinical.same_zone(x, ctx.zone)
    ]
    return therapeutic[-1] if therapeutic else None


def _function_improved(ctx: CheckContext, prior: PriorProcedure) -> Evidence | None:
    """An interference score after the procedure lower than the last one before it, on the same scale."""
    shown = []
    for baseline, after in _interference_around(ctx, prior):
        b, a = numeric_value(baseline) or 0, numeric_value(after[-1]) or 0
        if a >= b:
            return None  # a scale that did not improve: the scales disagree, or none improved
        shown.append(evidence_of(after[-1], day=effective_date(after[-1]), note=f"interference {b:g} → {a:g}"))
    return shown[0] if shown else None


def _interference_around(ctx: CheckContext, prior: PriorProcedure) -> list[tuple[Any, list[Any]]]:
    return clinical.interference_around(ctx.record, prior.resource, months_before(prior.day, 24), ctx.dos)


@check("sustained_relief", SustainedRelief)
def sustained_relief(ctx: CheckContext, p: SustainedRelief) -> Outcome:
    prior = _prior_for(ctx, p.prior)
    if prior is None:
        return Outcome(NA, "no prior procedure of this kind at this site")
    pain = _relief_lasted(ctx, p, prior)
    if pain.status is MET or not p.or_function_improved:
        return pain
    return _or_function_improved(ctx, p, prior, pain)


def _relief_lasted(ctx: CheckContext, p: SustainedRelief, prior: PriorProcedure) -> Outcome:
    """≥ threshold relief after the prior procedure, at every linked score, for the months the policy asks."""
    before, after = clinical.pain_scores_linked(ctx.record, prior.resource)
    threshold, months = p.min_relief_percent, p.min_months
    until = add_months(prior.day, months)
    ev: tuple[Evidence, ...] = (prior.evidence,)
    # I.D.2: no record can show the months of relief yet, so this branch fails on the dates and the other decides
    # (an RF repeat that soon is already not met by its interval criterion: no second row says it again)
    too_soon = (f"the procedure on {prior.day} was under {months} months ago: {months} months of relief cannot be "
                f"shown before {until}") if until > ctx.dos and p.or_function_improved else None
    if not before or not after:
        if too_soon:
            return Outcome(NOT_MET, too_soon, ev)
        missing = "before and after" if not before and not after else ("before" if not before else "after")
        recorded = tuple(evidence_of(o, day=effective_date(o)) for o in before[-1:] + after[-1:])
        return Outcome(DOC, f"no pain score {missing} the procedure on {prior.day} is recorded (linked to it by "
                       "partOf)", ev + recorded)
    baseline = numeric_value(before[-1]) or 0
    if baseline <= 0:  # no pain before it: no relief can be measured (not "relief fell to 0%")
        if too_soon:
            return Outcome(NOT_MET, too_soon, ev)
        zero = evidence_of(before[-1], day=effective_date(before[-1]))
        return Outcome(DOC, f"the pain score before the procedure on {prior.day} is 0: relief cannot be measured "
                       "against it", ev + (zero,))
    last_good: date | None = None
    for obs in after:
        day = effective_date(obs)
        relief = (baseline - (numeric_value(obs) or 0)) / baseline * 100
        if relief < threshold:
            if day is not None and day <= until:  # back by the end of the period: relief did not last
                return Outcome(
                    NOT_MET,
                    f"relief fell to {percent_text(relief)} on {day}, within {months} months",
                    ev + (evidence_of(obs, day=day),),
                )
            break
        last_good = day
        ev += (evidence_of(obs, day=day, note=f"relief {percent_text(relief)}"),)
    if too_soon:
        return Outcome(NOT_MET, too_soon, ev)
    if last_good is None or last_good < until:
        return Outcome(
            DOC, f"relief ≥ {threshold}% is recorded only until {last_good or prior.day}; {months} months needed", ev
        )
    if p.requires_function:
        improved = _function_improved(ctx, prior)
        if improved is None:
            shown = f"≥ {threshold}% relief recorded for {months} months (to {last_good})"
            return Outcome(DOC, f"{shown}; functional improvement needs documentation", ev,
                           attested_reason=f"{shown}; functional improvement attested by the clinician")
        ev += (improved,)
    return Outcome(MET, f"≥ {threshold}% relief for at least {months} months after {prior.day}", ev)


def _or_function_improved(ctx: CheckContext, p: SustainedRelief, prior: PriorProcedure, pain: Outcome) -> Outcome:
    """I.D.2's other branch: ≥ threshold consistent improvement in painful movements and ADLs against the baseline,
    on the same scale. Not met only when both branches are shown to fail."""
    threshold = p.min_relief_percent
    adl = _adl_improvement(ctx, prior, threshold)
    if adl is None:
        return Outcome(DOC, f"{pain.reason}; nor is ≥ {threshold}% consistent improvement in previously painful "
                       "movements and ADLs shown on the same scale: none has a score above 0 before the procedure "
                       "and one after it", pain.evidence)
    if adl.verdict == "improved":
        return Outcome(MET, f"ADL interference ≥ {threshold}% better than before the procedure on {prior.day} at "
                       f"every score since, on the same scale ({adl.change})", (prior.evidence,) + adl.evidence)
    if adl.verdict == "failed":
        status = NOT_MET if pain.status is NOT_MET else DOC
        return Outcome(status, f"{pain.reason}; and ADL interference did not improve ≥ {threshold}% consistently "
                       f"({adl.change})", pain.evidence + adl.evidence)
    why = {"once": f"one interference score since is ≥ {threshold}% better ({adl.change}): consistent improvement "
                   "needs another",
           "disagree": f"the interference scales disagree ({adl.change})"}[adl.verdict]
    return Outcome(DOC, f"{pain.reason}; {why}", pain.evidence + adl.evidence)


@dataclass(frozen=True)
class _AdlChange:
    verdict: str  # "improved", "failed", "once" (one better score only), "disagree" (scales differ)
    change: str  # "interference 8 → 4"
    evidence: tuple[Evidence, ...]


def _adl_improvement(ctx: CheckContext, prior: PriorProcedure, threshold: int) -> _AdlChange | None:
    """The ADL branch on every scale with a baseline before the procedure and scores after it; None when none
    has both. "Consistent": every score after the procedure (the worst of them) meets the threshold, and more
    than one says so."""
    changes = []
    for baseline, after in _interference_around(ctx, prior):
        b = numeric_value(baseline) or 0
        if b <= 0:
            continue  # no interference before: no improvement can be measured on this scale
        worst = max(after, key=lambda o: numeric_value(o) or 0)
        w = numeric_value(worst) or 0
        improved = (b - w) / b * 100 >= threshold
        evidence = (evidence_of(baseline, day=effective_date(baseline), note="baseline"),
                    evidence_of(worst, day=effective_date(worst)))
        verdict = ("improved" if len(after) > 1 else "once") if improved else "failed"
        changes.append(_AdlChange(verdict, f"interference {b:g} → {w:g}", evidence))
    if not changes:
        return None
    verdicts = {c.verdict for c in changes}
    if "failed" in verdicts and verdicts != {"failed"}:
        return _AdlChange("disagree", "; ".join(c.change for c in changes),
                          tuple(e for c in changes for e in c.evidence))
    return next((c for c in changes if c.verdict == "improved"), changes[0])


@check("not_rf_candidate", NotRfCandidate)
def not_rf_candidate(ctx: CheckContext, p: NotRfCandidate) -> Outcome:
    conditions = clinical.active_conditions_in(ctx.record, ctx.valuesets, p.valuesets, ctx.dos)
    if conditions:
        return Outcome(
            MET,
            "not an RF candidate (coded diagnosis)",
            (evidence_of(conditions[0], day=condition_onset(conditions[0])),),
        )
    device = clinical.implanted_electrical_device(ctx.record, ctx.valuesets, p.device_valuesets)
    if device:
        return Outcome(MET, "not an RF candidate (implanted electrical device)", (device,))
    unconfirmed = clinical.active_conditions_in(ctx.record, ctx.valuesets, p.valuesets, ctx.dos, unconfirmed=True)
    if unconfirmed:
        c = unconfirmed[0]
        status = clinical.status_code(c.get("verificationStatus"))
        return Outcome(
            DOC,
            f"{_dx_words(c).lower()} is {status}, not established: "
            "confirm it, or document another reason the patient is not an RF candidate",
            (evidence_of(c, day=condition_onset(c)),),
        )
    return Outcome(DOC, "why the patient is not an RF candidate needs documentation")
