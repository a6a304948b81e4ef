"""Clinical facts derived from the record: block history, pain relief, therapy spans, NSAID days, exclusions.

Pure functions of (record, value sets, dates). Each returns the facts and the resources that prove them.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from cds_service.evaluation import durations, episodes
from cds_service.evaluation.dates import parse_date
from cds_service.evaluation.procedures import body_site_region, facet_code_of, stated_intent
from cds_service.evaluation.record import (
    PatientRecord,
    Resource,
    codings,
    concept_label,
    concept_text,
    condition_is_active,
    condition_onset,
    effective_date,
    effective_instant,
    numeric_value,
    one_or_many,
    performed_date,
    performed_instant,
    status_code,
)
from cds_service.evaluation.results import Evidence
from cds_service.policy.conventions import (
    ADL_INTERFERENCE_LOINC,
    ATC,
    FACET_CDS_CODES,
    LOINC,
    PAIN_SCORE_LOINC,
    PERCENT_RELIEF_CODE,
    POST_PROCEDURE_MARKER,
    PRE_PROCEDURE_MARKER,
    RXNORM,
)
from cds_service.policy.terms import INJECTION_FAMILIES, CodeRole, Family, Intent, Region, Zone
from cds_service.policy.valuesets import ValueSets

INTERFERENCE_LOINC = ADL_INTERFERENCE_LOINC  # one definition, shared with fhir_access/relevance.py
# Spinal-pain diagnoses outside any one criterion: their `region` attribute tells cervical from thoracic
# (evaluator._region), and patient-view asks whether there is spinal pain at all. The pain_duration criteria
# take their list from the revision file (`pain_valuesets`).
SPINAL_PAIN_VALUESETS = (
    "dx-spinal-pain-and-chronic-pain",
    "dx-2019-supporting-cervical",
    "dx-2019-supporting-lumbar",
    "dx-2019-supporting-unspecified-region",
    "dx-facet-pain-candidates-2026-informational",
    "dx-thoracic-region-indicators",
)
# Display-text fallback when no code maps (clinical-mapping §5.2 step 4). Names of NSAID ingredients and brands.
NSAID_NAMES = re.compile(
    r"\b(ibuprofen|naproxen|diclofenac|meloxicam|celecoxib|indomethacin|nabumetone|piroxicam|flurbiprofen|ketorolac|"
    r"etodolac|ketoprofen|sulindac|oxaprozin|diflunisal|fenoprofen|tolmetin|mefenamic|meclofenamate|salsalate|aspirin|"
    r"advil|motrin|aleve|naprosyn|anaprox|mobic|celebrex|voltaren|cambia|zorvolex|toradol|indocin|tivorbex|lodine|"
    r"relafen|feldene|daypro|clinoril|dolobid|ansaid|nalfon|arthrotec|duexis|vimovo|nsaid|nonsteroidal)\b",
    re.I,
)
EXCLUDED_MED_STATUS = {"entered-in-error", "not-taken", "cancelled", "draft"}


def coded(resource: Resource, field: str = "code") -> str:
    """A short 'system|code' description of the first coding, for evidence lines."""
    for c in codings(resource.get(field)):
        if c.get("code"):
            system = str(c.get("system") or "")
            short = {
                "http://www.ama-assn.org/go/cpt": "CPT",
                "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
                "http://snomed.info/sct": "SNOMED",
                "http://loinc.org": "LOINC",
                RXNORM: "RxNorm",
            }.get(system, system)
            return f"{short} {c['code']}".strip()
    return concept_text(resource.get(field))[:60] or ""


def evidence_of(
    resource: Resource, *, day: date | None = None, field: str = "code", note: str | None = None
) -> Evidence:
    code = coded(resource, field) or None
    words = concept_label(resource.get(field))
    if len(words) > 60:  # cut at a word, visibly
        words = words[:60].rsplit(" ", 1)[0] + "…"
    return Evidence(str(resource.get("resourceType")), str(resource.get("id") or "?"),
                    day.isoformat() if day else None, code, note, label=words if words and words != code else None)


# ---------------------------------------------------------------- procedures done before

@dataclass(frozen=True)
class PriorProcedure:
    resource: Resource
    day: date
    family: Family
    zone: Zone | Region  # the code's zone, narrowed when the Procedure's bodySite says which
    intent: Intent  # absent = diagnostic
    members: tuple[Resource, ...] = ()  # every Procedure of the session (add-ons, other side)

    @property
    def evidence(self) -> Evidence:
        return evidence_of(self.resource, day=self.day)


def _prior_zone(proc: Resource, zone: Zone) -> Zone | Region:
    """The code's zone, narrowed to cervical or thoracic when the Procedure's bodySite says which."""
    stated = body_site_region(proc.get("bodySite"))
    if zone is Zone.CERVICAL_THORACIC and stated in (Region.CERVICAL, Region.THORACIC):
        return stated
    if zone is Zone.ANY and stated:
        return stated
    return zone


def prior_facet_procedures(record: PatientRecord, before: date) -> list[PriorProcedure]:
    """Completed facet sessions dated before the date of service, oldest first.

    A block is a session (contract §4 "Prior blocks and RF"): every facet Procedure of the same family and
    region on the same day — primary and add-on recorded separately, or left and right — is one.
    """
    sessions: dict[tuple[date, Family, Zone | Region], list[tuple[Resource, Any]]] = {}
    for proc in record.of_type("Procedure"):
        if proc.get("status") != "completed":
            continue
        fc = facet_code_of(proc)
        day = performed_date(proc)
        if fc is None or day is None or day >= before:
            continue
        sessions.setdefault((day, fc.family, _prior_zone(proc, fc.zone)), []).append((proc, fc))
    out = []
    for (day, family, zone), members in sessions.items():
        # The Procedure the relief scores point at stands for the session; else its primary code.
        linked = [p for p, _ in members if record.part_of(str(p.get("id") or ""))]
        primary = [p for p, fc in members if fc.role is CodeRole.PRIMARY]
        resource = (linked or primary or [members[0][0]])[0]
        intents = [i for p, _ in members if (i := stated_intent(p))]
        intent = stated_intent(resource) or (intents[0] if intents else Intent.DIAGNOSTIC)
        out.append(PriorProcedure(resource, day, family, zone, intent, tuple(p for p, _ in members)))
    return sorted(out, key=lambda p: p.day)


# Zone "cervical-thoracic" (a code's) and region "cervical-or-thoracic" (an order's, not stated) both stand
# for "cervical or thoracic, not known which".
_NARROWER: dict[str, set[str]] = {
    Zone.CERVICAL_THORACIC: {Region.CERVICAL, Region.THORACIC},
    Region.CERVICAL_OR_THORACIC: {Region.CERVICAL, Region.THORACIC},
}
Place = Zone | Region  # where a procedure is: a code's zone, or narrowed to a region


def same_zone(prior: PriorProcedure, zone: Place) -> bool:
    """Regions never mix; a cervical/thoracic code without a stated region matches either of the two."""
    a, b = prior.zone, zone
    if a == b or Zone.ANY in (a, b):
        return True
    return b in _NARROWER.get(a, set()) or a in _NARROWER.get(b, set()) or (a in _NARROWER and b in _NARROWER)


def last_rf(priors: Sequence[PriorProcedure], zone: Place) -> PriorProcedure | None:
    rfs = [p for p in priors if p.family == "rf" and same_zone(p, zone)]
    return rfs[-1] if rfs else None


def diagnostic_blocks_since_last_rf(priors: Sequence[PriorProcedure], zone: Place) -> list[PriorProcedure]:
    """The "up to two" count: diagnostic blocks in the region since the last RF there (contract §4)."""
    rf = last_rf(priors, zone)
    return [
        p
        for p in priors
        if p.family in INJECTION_FAMILIES
        and p.intent is Intent.DIAGNOSTIC
        and same_zone(p, zone)
        and (rf is None or p.day > rf.day)
    ]


def diagnostic_blocks(priors: Sequence[PriorProcedure], zone: Place) -> list[PriorProcedure]:
    return [
        p for p in priors if p.family in INJECTION_FAMILIES and p.intent is Intent.DIAGNOSTIC and same_zone(p, zone)
    ]


# ---------------------------------------------------------------- pain scores and relief

PAIN_SCORE_CODES = frozenset({PAIN_SCORE_LOINC})
PERCENT_RELIEF_CODES = frozenset({PERCENT_RELIEF_CODE})


def _pain_scores_of(record: PatientRecord) -> list[Resource]:
    return record.observations_coded(LOINC, PAIN_SCORE_CODES)


def _percent_reliefs_of(record: PatientRecord) -> list[Resource]:
    return record.observations_coded(FACET_CDS_CODES, PERCENT_RELIEF_CODES)


def _marker(obs: Resource) -> str | None:
    for c in codings(obs.get("category")):
        if c.get("system") == FACET_CDS_CODES and c.get("code") in (PRE_PROCEDURE_MARKER, POST_PROCEDURE_MARKER):
            return str(c["code"])
    return None


def _usable(obs: Resource) -> bool:
    return obs.get("status") not in ("entered-in-error", "cancelled")


def _side_of(obs: Resource, procedure: Resource) -> str | None:
    """'before' / 'after' the procedure: by marker, else by time, else by calendar date."""
    marker = _marker(obs)
    if marker:
        return "before" if marker == PRE_PROCEDURE_MARKER else "after"
    return _side_by_time(obs, procedure)


def _side_by_time(obs: Resource, procedure: Resource) -> str | None:
    obs_at, proc_at = effective_instant(obs), performed_instant(procedure)
    if obs_at and proc_at:
        return "before" if obs_at < proc_at else "after"
    obs_day, proc_day = effective_date(obs), performed_date(procedure)
    if obs_day and proc_day and obs_day != proc_day:
        return "before" if obs_day < proc_day else "after"
    return None


def _sort_key(obs: Resource) -> tuple[date, float]:
    instant = effective_instant(obs)
    return (effective_date(obs) or date.min, instant.timestamp() if instant else 0.0)


def percent_text(value: float) -> str:
    """A percent as a clinician reads it: whole, else one decimal rounded down, so it never reads as more than was
    measured (79.96% is "79.9%", never "80%" beside "< 80%")."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value)}%"
    return f"{math.floor(value * 10) / 10:.1f}%"


@dataclass(frozen=True)
class Relief:
    percent: float
    evidence: tuple[Evidence, ...]


def pain_scores_linked(record: PatientRecord, procedure: Resource) -> tuple[list[Resource], list[Resource]]:
    """Pain scores `partOf` the procedure, split into before and after, each in time order."""
    scores = {id(o) for o in _pain_scores_of(record)}
    before, after = [], []
    for obs in record.part_of(str(procedure.get("id") or "")):
        if id(obs) in scores and _usable(obs) and numeric_value(obs) is not None:
            side = _side_of(obs, procedure)
            if side == "before":
                before.append(obs)
            elif side == "after":
                after.append(obs)
    return sorted(before, key=_sort_key), sorted(after, key=_sort_key)


def relief_after_block(record: PatientRecord, procedure: Resource) -> Relief | None:
    """Relief % after a block: a recorded percent wins; else (before − first after) / before."""
    reliefs = {id(o) for o in _percent_reliefs_of(record)}
    for obs in record.part_of(str(procedure.get("id") or "")):
        if id(obs) in reliefs and _usable(obs):
            value = numeric_value(obs)
            if value is not None:
                return Relief(value, (evidence_of(obs, day=effective_date(obs), note=f"relief {percent_text(value)}"),))
    before, after = pain_scores_linked(record, procedure)
    if not before or not after:
        return None
    baseline, first_after = before[-1], after[0]
    b, a = numeric_value(baseline), numeric_value(first_after)
    if not b or a is None:  # a is never None (linked scores are numeric); this narrows it for mypy
        return None
    percent = (b - a) / b * 100.0
    return Relief(percent, (
        evidence_of(baseline, day=effective_date(baseline), note=f"before {b:g}/10"),
        evidence_of(first_after, day=effective_date(first_after),
                    note=f"after {a:g}/10 → relief {percent_text(percent)}"),
    ))


def pain_scores(record: PatientRecord, start: date, end: date) -> list[Resource]:
    out = [o for o in _pain_scores_of(record) if _usable(o) and numeric_value(o) is not None]
    return sorted([o for o in out if (d := effective_date(o)) and start <= d <= end], key=_sort_key)


def interference_scores(record: PatientRecord, start: date, end: date) -> list[Resource]:
    out = []
    for obs in record.observations_coded(LOINC, INTERFERENCE_LOINC):
        day = effective_date(obs)
        if _usable(obs) and numeric_value(obs) is not None and day and start <= day <= end:
            out.append(obs)
    return sorted(out, key=_sort_key)


def interference_scales(record: PatientRecord, start: date, end: date) -> dict[str, list[Resource]]:
    """The interference scores in the dates, by scale (LOINC code): improvement is measured on one scale only."""
    by_scale: dict[str, list[Resource]] = {}
    for obs in interference_scores(record, start, end):
        scale = next(str(c.get("code")) for c in codings(obs.get("code"))
                     if c.get("system") == LOINC and c.get("code") in INTERFERENCE_LOINC)
        by_scale.setdefault(scale, []).append(obs)
    return by_scale


def interference_around(record: PatientRecord, procedure: Resource, start: date, end: date,
                        ) -> list[tuple[Resource, list[Resource]]]:
    """Per scale with a score before the procedure and one after it: (the last score before, the scores after,
    in time order). Before and after by time, else by calendar day: a score later on the procedure's day is not a
    baseline. Not by pre/post markers: these scores are not linked to the procedure, so a marker may be another
    visit's."""
    around = []
    for series in interference_scales(record, start, end).values():
        before = [o for o in series if _side_by_time(o, procedure) == "before"]
        after = [o for o in series if _side_by_time(o, procedure) == "after"]
        if before and after:
            around.append((before[-1], after))
    return around


# ---------------------------------------------------------------- conditions

def active_conditions_in(record: PatientRecord, valuesets: ValueSets, names: Iterable[str], on: date, *,
                         unconfirmed: bool = False) -> list[Resource]:
    """Conditions of the sets active on the date and established; with `unconfirmed`, those provisional,
    differential or unconfirmed instead (they raise a question, they establish nothing)."""
    names = tuple(names)
    want = "unconfirmed" if unconfirmed else "established"
    return [
        c for c in record.of_type("Condition")
        if condition_is_active(c, on) and episodes.verification(c) == want
        and valuesets.matching(names, codings(c.get("code")))
    ]


def spinal_pain_conditions(
    record: PatientRecord, valuesets: ValueSets, names: Sequence[str], on: date
) -> list[Resource]:
    """Spinal-pain diagnoses of the current episode: ongoing on the date (an episode that ended is history)."""
    birth = episodes.birth_date(record)
    return [
        c for c in record.of_type("Condition")
        if episodes.in_current_episode(c, on, birth)
        and valuesets.matching(names, codings(c.get("code")))
    ]


def ended_spinal_pain_conditions(
    record: PatientRecord, valuesets: ValueSets, names: Sequence[str], on: date
) -> list[Resource]:
    """Spinal-pain diagnoses whose episode ended before the date (for a true reason when no current one exists)."""
    birth = episodes.birth_date(record)
    return [
        c for c in record.of_type("Condition")
        if episodes.verification(c) != "refuted" and not episodes.in_current_episode(c, on, birth)
        and (episodes.onset_of(c, birth).earliest or date.min) <= on
        and valuesets.matching(names, codings(c.get("code")))
    ]


@lru_cache(maxsize=16)  # a pure function of the loaded value sets (one object per library): built once, read-only
def _region_table(valuesets: ValueSets) -> Mapping[tuple[str, str], str]:
    region_of: dict[tuple[str, str], str] = {}
    for name in SPINAL_PAIN_VALUESETS:
        for entry in valuesets.entries(name):
            if entry.attributes.get("region") in ("cervical", "thoracic", "lumbar"):
                region_of[(entry.system, entry.code.replace(".", ""))] = entry.attributes["region"]
    return region_of


# Regions a value-set `region` attribute spans, for reading a diagnosis's pain as that of the order's region:
# lumbosacral pain is lumbar pain, thoracolumbar pain may be thoracic or lumbar.
_SPANS = {"cervical": {"cervical"}, "thoracic": {"thoracic"}, "lumbar": {"lumbar"}, "lumbosacral": {"lumbar"},
          "sacral": {"lumbar"}, "thoracolumbar": {"thoracic", "lumbar"}, "cervicothoracic": {"cervical", "thoracic"}}


@lru_cache(maxsize=16)  # as _region_table: one per loaded library
def _spans_table(valuesets: ValueSets) -> Mapping[tuple[str, str], frozenset[str]]:
    spans: dict[tuple[str, str], frozenset[str]] = {}
    for name in SPINAL_PAIN_VALUESETS:
        for entry in valuesets.entries(name):
            regions = _SPANS.get(str(entry.attributes.get("region")))
            if regions:
                spans[(entry.system, entry.code.replace(".", ""))] = frozenset(regions)
    return spans


def condition_spans(valuesets: ValueSets, condition: Resource) -> frozenset[str]:
    """Every spinal region a diagnosis's codes name (compound regions spelt out); empty when none is named."""
    spans = _spans_table(valuesets)
    named: set[str] = set()
    for coding in codings(condition.get("code")):
        named |= spans.get((str(coding.get("system")), str(coding.get("code") or "").replace(".", "")), frozenset())
    return frozenset(named)


def condition_region(valuesets: ValueSets, condition: Resource) -> str | None:
    """The spinal region a diagnosis names (the value sets' `region` attribute), None when it names none."""
    region_of = _region_table(valuesets)
    for coding in codings(condition.get("code")):
        region = region_of.get((str(coding.get("system")), str(coding.get("code") or "").replace(".", "")))
        if region:
            return region
    return None


def diagnosis_regions(record: PatientRecord, valuesets: ValueSets, on: date) -> set[str]:
    """Spinal regions of the active spinal diagnoses, from the `region` attribute in the value sets."""
    regions: set[str] = set()
    region_of = _region_table(valuesets)
    for c in record.of_type("Condition"):
        if not condition_is_active(c, on):
            continue
        for coding in codings(c.get("code")):
            region = region_of.get((str(coding.get("system")), str(coding.get("code") or "").replace(".", "")))
            if region:
                regions.add(region)
    return regions


# ---------------------------------------------------------------- conservative therapy

# Evaluations, re-evaluations and tests are not treatment (contract §4): they neither start nor extend a trial.
# PT 97161–97164, OT 97165–97168, athletic training 97169–97172, physical performance test 97750.
EVALUATION_CPT = frozenset({str(c) for c in range(97161, 97173)} | {"97750"})
# SNOMED referrals to physiotherapy are orders, not treatment.
REFERRAL_SNOMED = frozenset({"306170007", "306171006", "306172004"})
NSAID_VALUESETS = ("med-nsaid-rxnorm-ingredients", "med-nsaid-rxnorm-product-examples", "med-nsaid-atc-classes")
EGFR_VALUESET = "lab-egfr-loinc"
EVALUATION_OPENS_DAYS = 14  # an evaluation this close before the first treatment starts the plan of care


@dataclass(frozen=True)
class TherapySpan:
    first: date
    last: date
    resource: Resource


def _is_treatment(proc: Resource, valuesets: ValueSets, names: Sequence[str]) -> bool:
    """A coding in the therapy sets that is not an evaluation/referral code."""
    for c in codings(proc.get("code")):
        code = str(c.get("code") or "")
        if code in EVALUATION_CPT or code in REFERRAL_SNOMED:
            continue
        if valuesets.matching(names, [c]):
            return True
    return False


def therapy_sessions(
    record: PatientRecord, valuesets: ValueSets, names: Sequence[str], start: date, end: date, *,
    home_exercise: Sequence[str],
) -> list[TherapySpan]:
    """Completed PT/HEP treatment Procedures in [start, end]; a performedPeriod spans its whole (clipped) period."""
    out = []
    for proc in record.of_type("Procedure"):
        if proc.get("status") != "completed" or not _is_treatment(proc, valuesets, names):
            continue
        first = performed_date(proc)
        period = period_raw if isinstance(period_raw := proc.get("performedPeriod"), Mapping) else {}
        last = parse_date(period.get("end")) if not proc.get("performedDateTime") else None
        last = last if last and first and last >= first else first
        if first is None or last is None or last < start or first > end:
            continue
        out.append(TherapySpan(max(first, start), min(last, end), proc))
    # A home-exercise programme prescribed for a stated period spans that period (to the date of service).
    for res, first, last in prescribed_programmes(record, valuesets, home_exercise):
        if last is not None and last >= start and first <= end:
            out.append(TherapySpan(max(first, start), min(last, end), res))
    return sorted(out, key=lambda s: (s.first, s.last))


def evaluation_before(
    record: PatientRecord, valuesets: ValueSets, names: Sequence[str], start: date, first: date
) -> tuple[date, Resource] | None:
    """The earliest completed PT evaluation in the 14 days before the first treatment: it opens the plan of care
    (mapping §5.1: a start date only), so it may start a trial that treatment follows, but never extends one,
    stands alone, or reaches back from a much later course."""
    found = []
    for proc in record.of_type("Procedure"):
        if proc.get("status") != "completed" or _is_treatment(proc, valuesets, names):
            continue
        day = performed_date(proc)
        if (
            day
            and max(start, first - timedelta(days=EVALUATION_OPENS_DAYS)) <= day <= first
            and any(
                str(c.get("code")) in EVALUATION_CPT and valuesets.matching(names, [c])
                for c in codings(proc.get("code"))
            )
        ):
            found.append((day, proc))
    return min(found, key=lambda t: t[0]) if found else None


def prescribed_programmes(
    record: PatientRecord, valuesets: ValueSets, home_exercise: Sequence[str]
) -> list[tuple[Resource, date, date | None]]:
    """Active/completed home-exercise ServiceRequests and CarePlans: (resource, start, end of the prescribed period)."""
    out = []
    for kind, field in (("ServiceRequest", "code"), ("CarePlan", "category")):
        for res in record.of_type(kind):
            if res.get("status") not in ("active", "completed"):
                continue
            concepts = [res.get(field)] if kind == "ServiceRequest" else one_or_many(res.get(field)) + [
                (a.get("detail") or {}).get("code") for a in one_or_many(res.get("activity")) if isinstance(a, Mapping)]
            if not any(valuesets.matching(home_exercise, codings(c)) for c in concepts):
                continue
            period = res.get("occurrencePeriod") or res.get("period")
            period = period if isinstance(period, Mapping) else {}
            day = parse_date(period.get("start")) or parse_date(res.get("authoredOn") or res.get("created"))
            if day:
                period_end = parse_date(period.get("end"))
                out.append((res, day, period_end if period_end and period_end >= day else None))
    return out


def open_programmes(
    record: PatientRecord, valuesets: ValueSets, names: Sequence[str], start: date, end: date, *,
    home_exercise: Sequence[str],
) -> list[tuple[date, Resource, str]]:
    """Prescribed or ongoing programmes whose length is not recorded: (start, resource, what is missing).

    A home-exercise Procedure dated once (a prescription, not a series of visits), an in-progress PT/HEP
    Procedure, a period with no end, or an active/completed ServiceRequest/CarePlan for home exercise.
    """
    out = []
    for proc in record.of_type("Procedure"):
        if proc.get("status") not in ("completed", "in-progress") or not _is_treatment(proc, valuesets, names):
            continue
        day = performed_date(proc)
        if day is None or not start <= day <= end:
            continue
        period = proc.get("performedPeriod") if isinstance(proc.get("performedPeriod"), Mapping) else None
        open_period = period is not None and not parse_date(period.get("end"))
        single_hep = period is None and valuesets.matching(home_exercise, codings(proc.get("code")))
        if proc.get("status") == "in-progress" or open_period:
            out.append((day, proc, "in progress; no end date recorded"))
        elif single_hep:
            out.append((day, proc, "prescribed; how long it was followed is not recorded"))
    for res, day, period_end in prescribed_programmes(record, valuesets, home_exercise):
        if period_end is None and start <= day <= end:
            out.append((day, res, "prescribed; how long it was followed is not recorded"))
    return sorted(out, key=lambda t: t[0])


def therapy_not_tolerated(
    record: PatientRecord, valuesets: ValueSets, names: Sequence[str], start: date, end: date
) -> Resource | None:
    """A PT/HEP Procedure stopped or not done with a stated reason: documented inability to tolerate."""
    for proc in record.of_type("Procedure"):
        if proc.get("status") in ("not-done", "stopped") and proc.get("statusReason"):
            day = performed_date(proc) or parse_date(proc.get("recordedDate"))
            if (day is None or start <= day <= end) and valuesets.matching(names, codings(proc.get("code"))):
                return proc
    return None


# ---------------------------------------------------------------- NSAIDs

# Topical vs systemic (contract §4: dose form and route decide). Coded route first, then the dose form, then
# whole words of the product text; an oral dose-form word ("Liqui-Gels", "softgel", "gel capsule") wins over "gel".
SYSTEMIC_ROUTES = frozenset(
    {"26643006", "37161004", "78421000", "47625008", "46713006", "34206005", "37839007", "54471007"}
)
LOCAL_ROUTES = frozenset({"6064005", "45890007", "448598008", "54485002", "10547007", "359540000"})
ORAL_WORDS = re.compile(
    r"\b(oral|orally|by mouth|po|tablets?|tabs?|caplets?|capsules?|caps?|softgels?|liqui-?gels?|gelcaps?|chewable|"
    r"suspension|elixir|syrup|granules|powder for oral|"
    r"injection|injectable|intravenous|intramuscular|suppository|rectal|nasal)\b",
    re.I,
)
LOCAL_WORDS = re.compile(
    r"\b(topical|topically|transdermal|cutaneous|gel|jelly|cream|ointment|lotion|patch|patches|plaster|ophthalmic|otic|"
    r"eye drops?|foam)\b",
    re.I,
)
LOW_DOSE_ASPIRIN = re.compile(r"\b81\s*mg\b", re.I)


def systemic_from_text(text: str) -> bool | None:
    """True for an oral/injected dose form, False for a local one, None when the words say neither."""
    if ORAL_WORDS.search(text):
        return True
    if LOCAL_WORDS.search(text):
        return False
    return None


class NsaidMatcher:
    """Is this medication concept an NSAID? Ingredient code, product→ingredient table, ATC M01A, then names."""

    def __init__(self, valuesets: ValueSets):
        self._ingredients = {e.code for e in valuesets.entries(NSAID_VALUESETS[0])}
        self._products = {
            e.code: e.attributes.get("ingredient", "") for e in valuesets.entries(NSAID_VALUESETS[1])
        }
        self._valuesets = valuesets

    def match(self, concept: Any, *, check_form: bool = True) -> str | None:
        """'coded' / 'text-matched' when the concept is an NSAID (by default: systemic and not low-dose), else None."""
        text = concept_text(concept)
        if check_form and (LOW_DOSE_ASPIRIN.search(text) or systemic_from_text(text) is False):
            return None
        for c in codings(concept):
            system, code = c.get("system"), str(c.get("code") or "")
            if system == RXNORM and (code in self._ingredients or self._products.get(code) in self._ingredients):
                return "coded"
            if system == ATC and self._valuesets.contains(NSAID_VALUESETS[2], ATC, code):
                return "coded"
        return "text-matched" if NSAID_NAMES.search(text) else None


def _medication_resource(resource: Resource, record: PatientRecord) -> Resource | None:
    """The Medication a medicationReference names (contained `#id`, `Medication/id`, Bundle urn:uuid)."""
    medication = record.resolve(resource.get("medicationReference"), resource)
    return medication if medication and medication.get("resourceType") == "Medication" else None


def _medication_concept(resource: Resource, record: PatientRecord) -> Any:
    if resource.get("medicationCodeableConcept"):
        return resource["medicationCodeableConcept"]
    ref = resource.get("medicationReference")
    medication = _medication_resource(resource, record)
    if medication and medication.get("code"):
        return medication["code"]
    return {"text": ref.get("display")} if isinstance(ref, Mapping) else None


def is_systemic(resource: Resource, record: PatientRecord, concept: Any) -> bool:
    """Route codes decide, then the Medication's dose form, then the words of route/form/product text."""
    dosages = [
        d for d in one_or_many(resource.get("dosage") or resource.get("dosageInstruction")) if isinstance(d, Mapping)
    ]
    for d in dosages:
        for c in codings(d.get("route")):
            if str(c.get("code")) in SYSTEMIC_ROUTES:
                return True
            if str(c.get("code")) in LOCAL_ROUTES:
                return False
    medication = _medication_resource(resource, record) or {}
    words = " ".join(
        [concept_text(d.get("route")) for d in dosages] + [concept_text(medication.get("form")), concept_text(concept)]
    )
    if LOW_DOSE_ASPIRIN.search(concept_text(concept)):
        return False
    return systemic_from_text(words) is not False


@dataclass(frozen=True)
class NsaidCourse:
    name: str
    start: date
    interval: tuple[date, date] | None  # the days it certainly covers; None when its length cannot be derived
    upper: tuple[date, date]  # the most it could cover (unknown end, unfilled refills)
    missing: str | None  # what the record leaves open, in clinical words
    evidence: Evidence

    @property
    def end(self) -> date | None:
        return self.interval[1] if self.interval else None


def _name(concept: Any) -> str:
    if isinstance(concept, Mapping):
        if concept.get("text"):
            return str(concept["text"])[:60]
        for c in codings(concept):
            if c.get("display"):
                return str(c["display"])[:60]
    return "NSAID"


def _course_of(
    resource: Resource, on: date
) -> tuple[date, tuple[date, date] | None, tuple[date, date] | None, str | None] | None:
    """(start, known interval, upper interval, what is missing) of a MedicationStatement/Request/Dispense."""
    kind = resource.get("resourceType")
    dosages = one_or_many(resource.get("dosage") or resource.get("dosageInstruction"))
    stated, bounds = durations.stated_duration(dosages)
    if kind == "MedicationStatement":
        period = period_raw if isinstance(period_raw := resource.get("effectivePeriod"), Mapping) else {}
        start = (
            parse_date(period.get("start"))
            or parse_date(resource.get("effectiveDateTime"))
            or (bounds[0] if bounds else None)
        )
        if start is None:
            return None
        end = parse_date(period.get("end"))
        if end and end >= start:
            return start, (start, end), None, None
        if bounds:
            return start, bounds, None, None
        if stated:
            return start, (start, start + timedelta(days=stated - 1)), None, None
        asserted = parse_date(resource.get("dateAsserted"))
        if resource.get("status") == "active" and asserted and asserted > start:
            # Still taking it when asserted: dated through that day; how long after is open.
            return start, (start, asserted), (start, on), "no end date recorded"
        return start, None, None, "no end date or days' supply recorded"
    if kind == "MedicationDispense":
        start = parse_date(resource.get("whenHandedOver")) or parse_date(resource.get("whenPrepared"))
        supply = durations.duration_days(resource.get("daysSupply")) or durations.supply_from_quantity(
            resource.get("quantity"), dosages
        )
        if start is None:
            return None
        if supply:
            return start, (start, start + timedelta(days=supply - 1)), None, None
        return start, None, None, "no days' supply recorded"
    dispense = dispense_raw if isinstance(dispense_raw := resource.get("dispenseRequest"), Mapping) else {}
    validity = validity_raw if isinstance(validity_raw := dispense.get("validityPeriod"), Mapping) else {}
    # validityPeriod is when it may be filled, not a supply: only its start can place an undated order.
    start = (
        durations.bounds_start(dosages) or parse_date(resource.get("authoredOn")) or parse_date(validity.get("start"))
    )
    if start is None:
        return None
    supply = durations.duration_days(dispense.get("expectedSupplyDuration")) or durations.supply_from_quantity(
        dispense.get("quantity"), dosages
    )
    if supply:
        known = (start, start + timedelta(days=supply - 1))
        repeats = dispense.get("numberOfRepeatsAllowed")
        if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats > 0:
            upper = (start, start + timedelta(days=supply * (repeats + 1) - 1))
            return start, known, upper, f"{repeats} refill(s) allowed; whether they were filled is not recorded"
        return start, known, None, None
    if bounds:
        return start, bounds, None, None
    if stated:
        return start, (start, start + timedelta(days=stated - 1)), None, None
    return start, None, None, "no end date or days' supply recorded"


def nsaid_courses(record: PatientRecord, matcher: NsaidMatcher, start: date, end: date) -> list[NsaidCourse]:
    """Systemic NSAID courses that may fall in [start, end] (intervals clipped), each with what it leaves open."""
    courses = []
    kinds = ("MedicationStatement", "MedicationRequest", "MedicationDispense")
    for resource in [r for k in kinds for r in record.of_type(k)]:
        if resource.get("status") in EXCLUDED_MED_STATUS or resource.get("status") in (
            "declined",
            "preparation",
            "intended",
        ):
            continue
        if resource.get("resourceType") == "MedicationRequest" and resource.get("intent") in ("proposal", "plan"):
            continue
        concept = _medication_concept(resource, record)
        how = matcher.match(concept, check_form=False)
        if not how or not is_systemic(resource, record, concept):
            continue
        derived = _course_of(resource, end)
        if derived is None:
            continue
        first, known, upper, missing = derived
        upper = upper or known or (first, end)
        known = durations.clip(known, start, end) if known else None
        upper_clipped = durations.clip(upper, start, end)
        if upper_clipped is None or first > end:
            continue
        if known is None and missing is None:
            continue  # a dated course wholly outside the look-back
        if known is None and first < start and resource.get("status") != "active":
            continue  # an undated-end course begun before the look-back and not active: no sign it reached into it
        name = _name(concept)
        span = f"{known[0]} to {known[1]}" if known else f"from {first}"
        note = span + (", text-matched" if how == "text-matched" else "") + (f"; {missing}" if missing else "")
        courses.append(NsaidCourse(name, first, known, upper_clipped, missing,
                                   evidence_of(resource, day=first, field="medicationCodeableConcept", note=note)))
    return sorted(courses, key=lambda c: c.start)


@dataclass(frozen=True)
class NsaidExposure:
    days: int  # the union of the dated intervals, clipped to the look-back
    most_days: int  # what the days could be if every open course ran as long as it can
    open: tuple[NsaidCourse, ...]  # courses whose length the record does not settle
    evidence: tuple[Evidence, ...]


def nsaid_exposure(record: PatientRecord, matcher: NsaidMatcher, start: date, end: date) -> NsaidExposure:
    """Days of NSAID use: the union of intervals clipped to [start, end], so a course recorded twice counts once."""
    courses = nsaid_courses(record, matcher, start, end)
    days = durations.union_days([c.interval for c in courses if c.interval], start, end)
    most = durations.union_days([c.upper for c in courses] + [c.interval for c in courses if c.interval], start, end)
    return NsaidExposure(days, most, tuple(c for c in courses if c.missing), tuple(c.evidence for c in courses))


def nsaid_contraindication(
    record: PatientRecord, valuesets: ValueSets, matcher: NsaidMatcher, on: date, *,
    contraindications: Sequence[str], egfr_below: int,
) -> Evidence | None:
    """An NSAID allergy/intolerance, an established contraindicating diagnosis, or the latest eGFR below the limit."""
    for allergy in record.of_type("AllergyIntolerance"):
        if status_code(allergy.get("verificationStatus")) in ("refuted", "entered-in-error"):
            continue
        if status_code(allergy.get("clinicalStatus")) in ("inactive", "resolved"):
            continue
        known = parse_date(allergy.get("onsetDateTime")) or parse_date(allergy.get("recordedDate"))
        if known is not None and known > on:  # nothing dated after the date of service counts
            continue
        if matcher.match(allergy.get("code")) or re.search(r"nsaid|non-?steroidal", concept_text(allergy.get("code"))):
            return evidence_of(allergy, day=parse_date(allergy.get("recordedDate")), note="NSAID allergy/intolerance")
    for condition in active_conditions_in(record, valuesets, contraindications, on):
        return evidence_of(condition, day=condition_onset(condition), note="NSAID contraindication")
    egfr = latest_result(record, valuesets, EGFR_VALUESET, on)
    if egfr is not None:
        obs, value, below = egfr
        if value < egfr_below or (below and value <= egfr_below):
            note = f"latest eGFR {'<' if below else ''}{value:g} (< {egfr_below})"
            return evidence_of(obs, day=effective_date(obs), note=note)
    return None


def latest_result(record: PatientRecord, valuesets: ValueSets, valueset: str,
                  on: date) -> tuple[Resource, float, bool] | None:
    """The result in force at the date: the latest usable numeric result dated on or before it (not any past one).
    Returns (observation, value, value-is-an-upper-bound) — a '<15' result is an upper bound."""
    best: tuple[tuple[date, float], Resource] | None = None
    for obs in record.of_type("Observation"):
        if not _usable(obs) or obs.get("status") in ("registered", "preliminary") or numeric_value(obs) is None:
            continue
        day = effective_date(obs)
        if day is None or day > on or not valuesets.matching((valueset,), codings(obs.get("code"))):
            continue
        key = _sort_key(obs)
        if best is None or key > best[0]:
            best = (key, obs)
    if best is None:
        return None
    obs = best[1]
    quantity = obs.get("valueQuantity")
    below = isinstance(quantity, Mapping) and quantity.get("comparator") in ("<", "<=")
    return obs, float(numeric_value(obs) or 0.0), below


# ---------------------------------------------------------------- devices

DEVICE_WORDS = re.compile(
    r"pacemaker|defibrillator|neurostimulator|spinal cord stimulator|\bscs\b|ventricular assist", re.I
)


def implanted_electrical_device(
    record: PatientRecord, valuesets: ValueSets, device_valuesets: Sequence[str]
) -> Evidence | None:
    for device in record.of_type("Device"):
        if device.get("status") not in (None, "active"):
            continue
        typed = valuesets.matching(device_valuesets, codings(device.get("type")))
        names = " ".join(
            str(n.get("name") or "") for n in one_or_many(device.get("deviceName")) if isinstance(n, Mapping)
        )
        if typed or DEVICE_WORDS.search(concept_text(device.get("type")) + " " + names):
            return evidence_of(device, field="type", note="implanted electrical device")
    return None


# ---------------------------------------------------------------- attestations

def attestations(record: PatientRecord, canonical: str, start: date) -> dict[str, tuple[bool, Evidence]]:
    """linkId → (answer, evidence) from QuestionnaireResponses of this revision's Questionnaire; latest wins."""
    responses = []
    for qr in record.of_type("QuestionnaireResponse"):
        if qr.get("status") not in ("completed", "amended") or qr.get("questionnaire") != canonical:
            continue
        authored = parse_date(qr.get("authored"))
        if authored is None or authored < start:
            continue
        responses.append((authored, qr))
    answers: dict[str, tuple[bool, Evidence]] = {}
    for authored, qr in sorted(responses, key=lambda pair: pair[0]):
        for item in _flatten(qr.get("item")):
            for answer in one_or_many(item.get("answer")):
                if isinstance(answer, Mapping) and isinstance(answer.get("valueBoolean"), bool):
                    answers[str(item.get("linkId"))] = (
                        answer["valueBoolean"],
                        Evidence("QuestionnaireResponse", str(qr.get("id") or "?"), authored.isoformat(), None,
                                 f"attested {'yes' if answer['valueBoolean'] else 'no'}"),
                    )
    return answers


def _flatten(items: Any) -> Iterable[Mapping[str, Any]]:
    for item in one_or_many(items):
        if isinstance(item, Mapping):
            yield item
            yield from _flatten(item.get("item"))


# Value sets the engine itself relies on (not named by a revision's parameters): checked to exist at load.
ENGINE_VALUESETS = frozenset(
    {*SPINAL_PAIN_VALUESETS, *NSAID_VALUESETS, EGFR_VALUESET}
)
