"""Clinical facts derived from the record: block history, pain relief, therapy spans, NSAID days, exclusions.

Pure functions of (record, value sets, dates). Each returns the facts and the resources that prove them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable, Mapping, Sequence

from cds_service.policy.conventions import (
    ATC,
    FACET_CDS_CODES,
    LOINC,
    PAIN_SCORE_LOINC,
    PERCENT_RELIEF_CODE,
    POST_PROCEDURE_MARKER,
    PRE_PROCEDURE_MARKER,
    RXNORM,
)
from cds_service.policy.valuesets import ValueSets
from cds_service.evaluation import episodes
from cds_service.evaluation.dates import parse_date
from cds_service.evaluation.procedures import INJECTION_FAMILIES, body_site_region, facet_code_of, stated_intent
from cds_service.evaluation.record import (
    PatientRecord,
    Resource,
    as_list,
    codings,
    concept_text,
    condition_is_active,
    condition_onset,
    effective_date,
    effective_instant,
    numeric_value,
    performed_date,
    performed_instant,
    status_code,
)
from cds_service.evaluation.results import Evidence

INTERFERENCE_LOINC = frozenset({"77565-0", "91146-1", "91147-9"})
SPINAL_PAIN_VALUESETS = (
    "dx-spinal-pain-and-chronic-pain",
    "dx-2019-supporting-cervical",
    "dx-2019-supporting-lumbar",
    "dx-2019-supporting-unspecified-region",
    "dx-facet-pain-candidates-2026-informational",
    "dx-thoracic-region-indicators",
)
NSAID_CONTRA_VALUESETS = (
    "contra-nsaid-allergy-intolerance",
    "contra-ckd-stage-4-5",
    "contra-gi-bleed-peptic-ulcer",
    "contra-heart-failure",
    "contra-anticoagulant-therapy",
)
# Display-text fallback when no code maps (clinical-mapping §5.2 step 4). Names of NSAID ingredients and brands.
NSAID_NAMES = re.compile(
    r"\b(ibuprofen|naproxen|diclofenac|meloxicam|celecoxib|indomethacin|nabumetone|piroxicam|flurbiprofen|ketorolac|"
    r"etodolac|ketoprofen|sulindac|oxaprozin|diflunisal|fenoprofen|tolmetin|mefenamic|meclofenamate|salsalate|aspirin|"
    r"advil|motrin|aleve|naprosyn|anaprox|mobic|celebrex|voltaren|cambia|zorvolex|toradol|indocin|tivorbex|lodine|"
    r"relafen|feldene|daypro|clinoril|dolobid|ansaid|nalfon|arthrotec|duexis|vimovo|nsaid|nonsteroidal)\b",
    re.I,
)
# Not an NSAID trial: topical products (policy is silent; we count systemic use only) and low-dose aspirin.
NOT_A_TRIAL = re.compile(r"topical|gel\b|patch|cream|ophthalmic|\b81\s*mg", re.I)
EXCLUDED_MED_STATUS = {"entered-in-error", "not-taken", "cancelled", "draft"}


def coded(resource: Resource, field: str = "code") -> str:
    """A short 'system|code' description of the first coding, for evidence lines."""
    for c in codings(resource.get(field)):
        if c.get("code"):
            system = str(c.get("system") or "")
            short = {"http://www.ama-assn.org/go/cpt": "CPT", "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
                     "http://snomed.info/sct": "SNOMED", "http://loinc.org": "LOINC", RXNORM: "RxNorm"}.get(system, system)
            return f"{short} {c['code']}".strip()
    return concept_text(resource.get(field))[:60] or ""


def evidence_of(resource: Resource, *, day: date | None = None, field: str = "code", note: str | None = None) -> Evidence:
    return Evidence(str(resource.get("resourceType")), str(resource.get("id") or "?"),
                    day.isoformat() if day else None, coded(resource, field) or None, note)


# ---------------------------------------------------------------- procedures done before

@dataclass(frozen=True)
class PriorProcedure:
    resource: Resource
    day: date
    family: str  # injection | ultrasound-injection | rf | pulsed-rf
    zone: str
    intent: str  # diagnostic | therapeutic (absent = diagnostic)
    members: tuple[Resource, ...] = ()  # every Procedure of the session (add-ons, other side)

    @property
    def evidence(self) -> Evidence:
        return evidence_of(self.resource, day=self.day)


def _prior_zone(proc: Resource, zone: str) -> str:
    """The code's zone, narrowed to cervical or thoracic when the Procedure's bodySite says which."""
    stated = body_site_region(proc.get("bodySite"))
    if zone == "cervical-thoracic" and stated in ("cervical", "thoracic"):
        return stated
    if zone == "any" and stated:
        return stated
    return zone


def prior_facet_procedures(record: PatientRecord, before: date) -> list[PriorProcedure]:
    """Completed facet sessions dated before the date of service, oldest first.

    A block is a session (contract §4 "Prior blocks and RF"): every facet Procedure of the same family and
    region on the same day — primary and add-on recorded separately, or left and right — is one.
    """
    sessions: dict[tuple[date, str, str], list[tuple[Resource, Any]]] = {}
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
        primary = [p for p, fc in members if fc.role == "primary"]
        resource = (linked or primary or [members[0][0]])[0]
        intents = [i for p, _ in members if (i := stated_intent(p))]
        intent = stated_intent(resource) or (intents[0] if intents else "diagnostic")
        out.append(PriorProcedure(resource, day, family, zone, intent, tuple(p for p, _ in members)))
    return sorted(out, key=lambda p: p.day)


_NARROWER = {"cervical-thoracic": {"cervical", "thoracic"}, "cervical-or-thoracic": {"cervical", "thoracic"}}


def same_zone(prior: PriorProcedure, zone: str) -> bool:
    """Regions never mix; a cervical/thoracic code without a stated region matches either of the two."""
    a, b = prior.zone, zone
    if a == b or "any" in (a, b):
        return True
    return b in _NARROWER.get(a, set()) or a in _NARROWER.get(b, set()) or (a in _NARROWER and b in _NARROWER)


def last_rf(priors: Sequence[PriorProcedure], zone: str) -> PriorProcedure | None:
    rfs = [p for p in priors if p.family == "rf" and same_zone(p, zone)]
    return rfs[-1] if rfs else None


def diagnostic_blocks_since_last_rf(priors: Sequence[PriorProcedure], zone: str) -> list[PriorProcedure]:
    """The "up to two" count: diagnostic blocks in the region since the last RF there (contract §4)."""
    rf = last_rf(priors, zone)
    return [
        p for p in priors
        if p.family in INJECTION_FAMILIES and p.intent == "diagnostic" and same_zone(p, zone) and (rf is None or p.day > rf.day)
    ]


def diagnostic_blocks(priors: Sequence[PriorProcedure], zone: str) -> list[PriorProcedure]:
    return [p for p in priors if p.family in INJECTION_FAMILIES and p.intent == "diagnostic" and same_zone(p, zone)]


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
                return Relief(value, (evidence_of(obs, day=effective_date(obs), note=f"relief {value:g}%"),))
    before, after = pain_scores_linked(record, procedure)
    if not before or not after:
        return None
    baseline, first_after = before[-1], after[0]
    b, a = numeric_value(baseline), numeric_value(first_after)
    if not b:
        return None
    percent = (b - a) / b * 100.0
    return Relief(percent, (
        evidence_of(baseline, day=effective_date(baseline), note=f"before {b:g}/10"),
        evidence_of(first_after, day=effective_date(first_after), note=f"after {a:g}/10 → relief {percent:.0f}%"),
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


def spinal_pain_conditions(record: PatientRecord, valuesets: ValueSets, on: date) -> list[Resource]:
    """Spinal-pain diagnoses of the current episode: ongoing on the date (an episode that ended is history)."""
    birth = episodes.birth_date(record)
    return [
        c for c in record.of_type("Condition")
        if episodes.in_current_episode(c, on, birth)
        and valuesets.matching(SPINAL_PAIN_VALUESETS, codings(c.get("code")))
    ]


def ended_spinal_pain_conditions(record: PatientRecord, valuesets: ValueSets, on: date) -> list[Resource]:
    """Spinal-pain diagnoses whose episode ended before the date (for a true reason when no current one exists)."""
    birth = episodes.birth_date(record)
    return [
        c for c in record.of_type("Condition")
        if episodes.verification(c) != "refuted" and not episodes.in_current_episode(c, on, birth)
        and (episodes.onset_of(c, birth).earliest or date.min) <= on
        and valuesets.matching(SPINAL_PAIN_VALUESETS, codings(c.get("code")))
    ]


def diagnosis_regions(record: PatientRecord, valuesets: ValueSets, on: date) -> set[str]:
    """Spinal regions of the active spinal diagnoses, from the `region` attribute in the value sets."""
    regions: set[str] = set()
    region_of: dict[tuple[str, str], str] = {}
    for name in SPINAL_PAIN_VALUESETS:
        for entry in valuesets.entries(name):
            if entry.attributes.get("region") in ("cervical", "thoracic", "lumbar"):
                region_of[(entry.system, entry.code.replace(".", ""))] = entry.attributes["region"]
    for c in record.of_type("Condition"):
        if not condition_is_active(c, on):
            continue
        for coding in codings(c.get("code")):
            region = region_of.get((str(coding.get("system")), str(coding.get("code") or "").replace(".", "")))
            if region:
                regions.add(region)
    return regions


# ---------------------------------------------------------------- conservative therapy

def therapy_sessions(record: PatientRecord, valuesets: ValueSets, names: Sequence[str], start: date, end: date) -> list[tuple[date, Resource]]:
    out = []
    for proc in record.of_type("Procedure"):
        if proc.get("status") != "completed":
            continue
        day = performed_date(proc)
        if day and start <= day <= end and valuesets.matching(names, codings(proc.get("code"))):
            out.append((day, proc))
    return sorted(out, key=lambda pair: pair[0])


def therapy_not_tolerated(record: PatientRecord, valuesets: ValueSets, names: Sequence[str], start: date, end: date) -> Resource | None:
    """A PT/HEP Procedure stopped or not done with a stated reason: documented inability to tolerate."""
    for proc in record.of_type("Procedure"):
        if proc.get("status") in ("not-done", "stopped") and proc.get("statusReason"):
            day = performed_date(proc) or parse_date(proc.get("recordedDate"))
            if (day is None or start <= day <= end) and valuesets.matching(names, codings(proc.get("code"))):
                return proc
    return None


# ---------------------------------------------------------------- NSAIDs

class NsaidMatcher:
    """Is this medication concept an NSAID? Ingredient code, product→ingredient table, ATC M01A, then names."""

    def __init__(self, valuesets: ValueSets):
        self._ingredients = {e.code for e in valuesets.entries("med-nsaid-rxnorm-ingredients")}
        self._products = {e.code: e.attributes.get("ingredient", "") for e in valuesets.entries("med-nsaid-rxnorm-product-examples")}
        self._valuesets = valuesets

    def match(self, concept: Any) -> str | None:
        """'coded' / 'text-matched' when the concept is a (systemic, non-low-dose) NSAID, else None."""
        text = concept_text(concept)
        if NOT_A_TRIAL.search(text):
            return None
        for c in codings(concept):
            system, code = c.get("system"), str(c.get("code") or "")
            if system == RXNORM and (code in self._ingredients or self._products.get(code) in self._ingredients):
                return "coded"
            if system == ATC and self._valuesets.contains("med-nsaid-atc-classes", ATC, code):
                return "coded"
        return "text-matched" if NSAID_NAMES.search(text) else None


def _medication_concept(resource: Resource, record: PatientRecord) -> Any:
    if resource.get("medicationCodeableConcept"):
        return resource["medicationCodeableConcept"]
    ref = resource.get("medicationReference")
    medication = record.resolve(ref, resource)  # `#id` contained, `Medication/id`, absolute or Bundle urn:uuid
    if medication and medication.get("resourceType") == "Medication" and medication.get("code"):
        return medication["code"]
    return {"text": ref.get("display")} if isinstance(ref, Mapping) else None


def _duration_days(duration: Any) -> int | None:
    if not isinstance(duration, Mapping) or not isinstance(duration.get("value"), (int, float)):
        return None
    unit = str(duration.get("code") or duration.get("unit") or "d").lower()
    factor = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30, "months": 30}.get(unit)
    return int(duration["value"] * factor) if factor else None


def medication_interval(resource: Resource, on: date) -> tuple[date, date] | None:
    """The days a MedicationStatement or MedicationRequest covers (inclusive), or None."""
    if resource.get("resourceType") == "MedicationStatement":
        period = resource.get("effectivePeriod")
        if isinstance(period, Mapping) and parse_date(period.get("start")):
            start = parse_date(period["start"])
            end = parse_date(period.get("end")) or (on if resource.get("status") == "active" else start)
            return (start, end) if start and end and end >= start else None
        day = parse_date(resource.get("effectiveDateTime"))
        return (day, day) if day else None
    dispense = resource.get("dispenseRequest") if isinstance(resource.get("dispenseRequest"), Mapping) else {}
    validity = dispense.get("validityPeriod") if isinstance(dispense.get("validityPeriod"), Mapping) else {}
    start = parse_date(validity.get("start")) or parse_date(resource.get("authoredOn"))
    if start is None:
        return None
    supply = _duration_days(dispense.get("expectedSupplyDuration"))
    if supply:
        return start, start + timedelta(days=supply - 1)
    end = parse_date(validity.get("end"))
    return (start, end) if end and end >= start else (start, start)


@dataclass(frozen=True)
class NsaidExposure:
    days: int
    evidence: tuple[Evidence, ...]


def nsaid_courses(record: PatientRecord, matcher: NsaidMatcher, start: date, end: date) -> list[tuple[date, date, Evidence]]:
    """NSAID intervals from MedicationStatement/MedicationRequest, clipped to [start, end], with their evidence."""
    courses = []
    for resource in record.of_type("MedicationStatement") + record.of_type("MedicationRequest"):
        if resource.get("status") in EXCLUDED_MED_STATUS:
            continue
        if resource.get("resourceType") == "MedicationRequest" and resource.get("intent") in ("proposal", "plan"):
            continue
        how = matcher.match(_medication_concept(resource, record))
        interval = medication_interval(resource, end) if how else None
        if not interval:
            continue
        lo, hi = max(interval[0], start), min(interval[1], end)
        if lo <= hi:
            courses.append((lo, hi, evidence_of(resource, day=interval[0], field="medicationCodeableConcept",
                                               note=f"{interval[0]} to {interval[1]}" + (", text-matched" if how == "text-matched" else ""))))
    return courses


def nsaid_exposure(record: PatientRecord, matcher: NsaidMatcher, start: date, end: date) -> NsaidExposure:
    """Days of NSAID use: the union of intervals clipped to [start, end], so a course recorded twice counts once."""
    courses = nsaid_courses(record, matcher, start, end)
    days, cursor = 0, None
    for lo, hi, _ in sorted(courses, key=lambda c: (c[0], c[1])):
        if cursor is not None and lo <= cursor:
            lo = cursor + timedelta(days=1)
        if lo <= hi:
            days += (hi - lo).days + 1
        cursor = hi if cursor is None else max(cursor, hi)
    return NsaidExposure(days, tuple(e for _, _, e in courses))


def nsaid_contraindication(record: PatientRecord, valuesets: ValueSets, matcher: NsaidMatcher, on: date) -> Evidence | None:
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
    for condition in active_conditions_in(record, valuesets, NSAID_CONTRA_VALUESETS, on):
        return evidence_of(condition, day=condition_onset(condition), note="NSAID contraindication")
    egfr = latest_result(record, valuesets, "lab-egfr-loinc", on)
    if egfr is not None:
        obs, value, below = egfr
        if value < 30 or (below and value <= 30):
            return evidence_of(obs, day=effective_date(obs), note=f"latest eGFR {'<' if below else ''}{value:g} (< 30)")
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

DEVICE_WORDS = re.compile(r"pacemaker|defibrillator|neurostimulator|spinal cord stimulator|\bscs\b|ventricular assist", re.I)


def implanted_electrical_device(record: PatientRecord, valuesets: ValueSets) -> Evidence | None:
    for device in record.of_type("Device"):
        if device.get("status") not in (None, "active"):
            continue
        typed = valuesets.matching(("dx-rfa-not-candidate-implanted-electrical-device",), codings(device.get("type")))
        names = " ".join(str(n.get("name") or "") for n in as_list(device.get("deviceName")) if isinstance(n, Mapping))
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
            for answer in as_list(item.get("answer")):
                if isinstance(answer, Mapping) and isinstance(answer.get("valueBoolean"), bool):
                    answers[str(item.get("linkId"))] = (
                        answer["valueBoolean"],
                        Evidence("QuestionnaireResponse", str(qr.get("id") or "?"), authored.isoformat(), None,
                                 f"attested {'yes' if answer['valueBoolean'] else 'no'}"),
                    )
    return answers


def _flatten(items: Any) -> Iterable[Mapping[str, Any]]:
    for item in as_list(items):
        if isinstance(item, Mapping):
            yield item
            yield from _flatten(item.get("item"))
