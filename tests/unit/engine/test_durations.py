"""Durations (contract §4 "Conservative therapy"): NSAID days and PT/home-exercise trials from real-world shapes.

One table per shape, run against both revisions where the thresholds differ (05/26: NSAID ≥ 21 days in 12
months, PT ≥ 28 days; 2019: NSAID ≥ 21 days in 24 months, PT ≥ 42 days).
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.evaluation import durations
from cds_service.evaluation.clinical import NsaidMatcher, nsaid_exposure
from cds_service.evaluation.record import PatientRecord
from cds_service.usecases.engine import default_library
from tests.support.criteria_tables import DOC, MET, NOT_MET, base, determine
from tests.support.fhir_builders import (
    DOS,
    days_ago,
    months_ago,
    nsaid_statement,
    order,
    procedure,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"
NSAID = {"2026-05": "I.A.1.b.ii", "2019": "I.A.3.b"}
PT = {"2026-05": "I.A.1.b.i", "2019": "I.A.3.a"}


def outcome(criterion: str, records: list[dict[str, Any]], revision: str) -> tuple[str, str]:
    d = determine(base() + records, order(), revision=revision)
    c = next(c for c in d.criteria if c.criterion_id == criterion)
    return c.status.value, c.reason


def request(start: date, *, dispense: dict | None = None, dosage: list | None = None,
            display: str = "ibuprofen 800 MG Oral Tablet") -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": f"mr-{start}-{len(str(dispense))}", "status": "active",
        "intent": "order", "subject": {"reference": "Patient/pt-test"}, "authoredOn": start.isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "197807", "display": display}]},
    }
    if dispense is not None:
        r["dispenseRequest"] = dispense
    if dosage is not None:
        r["dosageInstruction"] = dosage
    return r


def statement(start: date, *, end: date | None = None, dosage: list | None = None, display: str = "ibuprofen",
              status: str = "active") -> dict[str, Any]:
    s = nsaid_statement(start, end or start, display=display, status=status)
    s["effectivePeriod"] = {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}
    if dosage is not None:
        s["dosage"] = dosage
    return s


def tid(dose: float = 1, unit: str = "tablet") -> list[dict[str, Any]]:
    return [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}]}]


S = months_ago(6)
YEAR_VALIDITY = {"validityPeriod": {"start": S.isoformat(), "end": (S + timedelta(days=365)).isoformat()}}


# ----------------------------------------------------------------- NSAID shapes (same threshold in both revisions)
@pytest.mark.parametrize("revision", ["2026-05", "2019"])
@pytest.mark.parametrize("records, expected, reason_has", [
    pytest.param(lambda: [request(S, dispense={"expectedSupplyDuration": {"value": 30, "code": "d"}})], MET, "30 days",
                 id="expected-supply-30d"),
    pytest.param(lambda: [request(S, dispense={"expectedSupplyDuration": {"value": 2, "unit": "weeks"}})], NOT_MET, "14 days",
                 id="expected-supply-2-weeks-too-short"),
    pytest.param(lambda: [request(S, dispense={"quantity": {"value": 90, "unit": "tablet"}}, dosage=tid())], MET, "30 days",
                 id="quantity-over-daily-dose"),
    pytest.param(lambda: [request(S, dispense={"quantity": {"value": 90, "unit": "tablet"}}, dosage=[
        {"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}, "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tab"}}]}])],
                 MET, "30 days", id="quantity-over-q8h-dose"),
    pytest.param(lambda: [request(S, dispense={"quantity": {"value": 60, "unit": "tablet"}}, dosage=[
        {"timing": {"code": {"coding": [{"code": "BID"}]}}, "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}])],
                 MET, "30 days", id="quantity-over-bid-timing-code"),
    pytest.param(lambda: [request(S, dispense={"quantity": {"value": 60, "unit": "tablet"}}, dosage=tid(800, "mg"))], DOC,
                 "no end date or days' supply", id="tablets-over-mg-dose-is-underivable"),
    pytest.param(lambda: [request(S, dispense={"quantity": {"value": 30, "unit": "tablet"}}, dosage=tid())], NOT_MET, "10 days",
                 id="quantity-over-daily-dose-short"),
    pytest.param(lambda: [request(S, dispense={"quantity": {"value": 90, "unit": "tablet"}, **YEAR_VALIDITY})], DOC,
                 "no end date or days' supply recorded", id="quantity-without-dosage-is-underivable"),
    pytest.param(lambda: [request(S, dispense=YEAR_VALIDITY)], DOC, "ibuprofen 800 MG Oral Tablet from",
                 id="validity-period-is-not-supply"),
    pytest.param(lambda: [request(S, dosage=[{"text": "1 tab by mouth three times daily for 30 days"}])], MET, "30 days",
                 id="duration-in-dosage-text"),
    pytest.param(lambda: [request(S, dosage=[{"timing": {"repeat": {"boundsDuration": {"value": 3, "code": "wk"}}}}])], MET,
                 "21 days", id="bounds-duration-3-weeks"),
    pytest.param(lambda: [request(S, dosage=[{"timing": {"repeat": {"boundsPeriod": {
        "start": S.isoformat(), "end": (S + timedelta(days=9)).isoformat()}}}}])], NOT_MET, "10 days", id="bounds-period-short"),
    pytest.param(lambda: [statement(S)], DOC, f"ibuprofen from {S}: no end date or days' supply recorded",
                 id="statement-start-only"),
    pytest.param(lambda: [{**statement(S), "dateAsserted": (S + timedelta(days=40)).isoformat()}], MET, "41 days",
                 id="active-statement-asserted-40-days-later"),
    pytest.param(lambda: [{**statement(S), "dateAsserted": (S + timedelta(days=5)).isoformat()}], DOC, "no end date recorded",
                 id="active-statement-asserted-5-days-later-is-open"),
    pytest.param(lambda: [statement(S, dosage=[{"text": "600 mg po tid for the next 30 days"}])], MET, "30 days",
                 id="statement-for-the-next-30-days"),
    pytest.param(lambda: [statement(S, dosage=[{"text": "600 mg po tid prn for up to 30 days"}])], DOC, "no end date",
                 id="for-up-to-is-a-ceiling-not-a-course"),
    pytest.param(lambda: [statement(S, end=S + timedelta(days=40), status="intended")], DOC, "no NSAID use recorded",
                 id="intended-is-not-taken"),
    pytest.param(lambda: [statement(S, dosage=[{"text": "600 mg po tid x 4 weeks"}])], MET, "28 days",
                 id="statement-start-and-stated-duration"),
    pytest.param(lambda: [request(S, dispense={"expectedSupplyDuration": {"value": 10, "code": "d"}, "numberOfRepeatsAllowed": 2})],
                 DOC, "refill", id="short-supply-with-refills-open"),
    pytest.param(lambda: [{"resourceType": "MedicationDispense", "id": "md-1", "status": "completed",
                           "subject": {"reference": "Patient/pt-test"}, "whenHandedOver": S.isoformat(),
                           "medicationCodeableConcept": {"text": "naproxen 500 mg tablet"},
                           "daysSupply": {"value": 30, "unit": "day", "code": "d"}}], MET, "30 days", id="dispense-days-supply"),
    pytest.param(lambda: [request(days_ago(5))], NOT_MET, "at most 6 days of NSAIDs are possible", id="undated-end-but-started-5-days-ago"),
    pytest.param(lambda: [statement(S, end=S + timedelta(days=9)), statement(S + timedelta(days=60))], DOC,
                 "(10 days dated)", id="dated-short-course-plus-open-course"),
    pytest.param(lambda: [statement(S, end=S + timedelta(days=20)),
                          request(S, dispense={"expectedSupplyDuration": {"value": 21, "code": "d"}})], MET, "21 days",
                 id="same-course-twice-counts-once"),
])
def test_nsaid_course_shapes(revision, records, expected, reason_has):
    status, reason = outcome(NSAID[revision], records(), revision)
    assert status == expected, reason
    assert reason_has in reason
    assert "only 1 days" not in reason and " 1 days" not in reason


@pytest.mark.parametrize("status, expected", [("completed", "no NSAID use recorded"), ("active", "no end date or days' supply")])
def test_open_course_begun_before_the_look_back_counts_only_while_active(status, expected):
    old = statement(months_ago(30), status=status)
    assert expected in outcome(NSAID["2026-05"], [old], "2026-05")[1]


def test_look_back_differs_between_revisions():
    start = months_ago(18)  # inside 2019's 24 months, outside 05/26's 12
    records = [statement(start, end=start + timedelta(days=29), status="completed")]
    assert outcome(NSAID["2019"], records, "2019")[0] == MET
    assert outcome(NSAID["2026-05"], records, "2026-05")[0] == DOC


# ----------------------------------------------------------------- topical vs oral: route and dose form decide
@pytest.mark.parametrize("display, route, expected", [
    ("Advil Liqui-Gels 200 MG", None, MET),                      # "gel" inside an oral dose form
    ("ibuprofen 200 MG Oral Capsule, Liquid Filled (softgel)", None, MET),
    ("Diclofenac sodium 1% topical gel", None, DOC),
    ("Voltaren Arthritis Pain Gel", None, DOC),
    ("diclofenac epolamine 1.3% transdermal patch", None, DOC),
    ("diclofenac", {"coding": [{"system": SCT, "code": "6064005", "display": "Topical route"}]}, DOC),
    ("diclofenac gel", {"coding": [{"system": SCT, "code": "26643006", "display": "Oral route"}]}, MET),  # coded route wins
    ("naproxen", {"text": "by mouth"}, MET),
    ("Gelatin-coated naproxen 500 MG tablet", None, MET),          # whole words only
])
def test_topical_or_oral(display, route, expected):
    s = statement(S, end=S + timedelta(days=29), display=display, status="completed")
    if route:
        s["dosage"] = [{"route": route}]
    assert outcome(NSAID["2026-05"], [s], "2026-05")[0] == expected


# ----------------------------------------------------------------- PT / home exercise
def pt(code: str, day: date, *, system: str = "http://www.ama-assn.org/go/cpt", end: date | None = None,
       status: str = "completed") -> dict[str, Any]:
    p = procedure(code, day, system=system, status=status)
    if end is not None or status == "in-progress":
        p.pop("performedDateTime")
        p["performedPeriod"] = {"start": day.isoformat(), **({"end": end.isoformat()} if end else {})}
    return p


P = months_ago(5)


def hep_order(start: date, end: date | None) -> dict[str, Any]:
    return {"resourceType": "ServiceRequest", "id": f"sr-hep-{end}", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/pt-test"}, "authoredOn": start.isoformat(),
            "code": {"coding": [{"system": SCT, "code": "310882002", "display": "Exercise on prescription"}]},
            "occurrencePeriod": {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}}


@pytest.mark.parametrize("records, expected_2026, expected_2019", [
    pytest.param(lambda: [pt("229065009", P, system=SCT, end=P + timedelta(days=45))], MET, MET, id="hep-period-45-days"),
    pytest.param(lambda: [pt("229065009", P, system=SCT, end=P + timedelta(days=30))], MET, NOT_MET, id="hep-period-30-days"),
    pytest.param(lambda: [pt("229065009", P, system=SCT, end=P + timedelta(days=20))], NOT_MET, NOT_MET, id="hep-period-20-days"),
    pytest.param(lambda: [pt("97161", P), pt("97164", P + timedelta(days=30)), pt("97164", P + timedelta(days=60))], DOC, DOC,
                 id="evaluations-only-are-not-treatment"),
    pytest.param(lambda: [pt("97110", P), pt("97110", P + timedelta(days=10)), pt("97164", P + timedelta(days=60))],
                 NOT_MET, NOT_MET, id="re-evaluation-does-not-extend"),
    pytest.param(lambda: [pt("97161", P), pt("97110", P + timedelta(days=1)), pt("97110", P + timedelta(days=29))],
                 MET, NOT_MET, id="evaluation-opens-the-plan-then-treatment"),
    pytest.param(lambda: [pt("97161", P), pt("97110", P + timedelta(days=20)), pt("97110", P + timedelta(days=40))],
                 NOT_MET, NOT_MET, id="evaluation-weeks-before-treatment-does-not-open"),
    pytest.param(lambda: [pt("310882002", P, system=SCT)], DOC, DOC, id="prescribed-programme-no-duration"),
    pytest.param(lambda: [pt("97110", P), pt("97110", P + timedelta(days=7)), pt("229065009", P + timedelta(days=7), system=SCT)],
                 DOC, DOC, id="short-pt-plus-prescribed-programme"),
    pytest.param(lambda: [pt("97110", days_ago(50), status="in-progress")], DOC, DOC, id="in-progress-no-end"),
    pytest.param(lambda: [hep_order(P, P + timedelta(days=42))], MET, MET, id="hep-prescribed-for-6-weeks"),
    pytest.param(lambda: [hep_order(P, None)], DOC, DOC, id="hep-prescribed-no-period-end"),
    pytest.param(lambda: [hep_order(P, P + timedelta(days=14))], NOT_MET, NOT_MET, id="hep-prescribed-for-2-weeks"),
])
def test_pt_shapes(records, expected_2026, expected_2019):
    status_2026, reason_2026 = outcome(PT["2026-05"], records(), "2026-05")
    status_2019, _ = outcome(PT["2019"], records(), "2019")
    assert (status_2026, status_2019) == (expected_2026, expected_2019), reason_2026
    if status_2026 == DOC:
        assert "record" in reason_2026  # says where to record what is missing


def test_prescribed_programme_reason_names_it():
    status, reason = outcome(PT["2026-05"], [pt("310882002", P, system=SCT)], "2026-05")
    assert status == DOC and f"from {P}" in reason and "not recorded" in reason


# ----------------------------------------------------------------- properties: interval union and supply
days_ = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 1, 1))
intervals = st.lists(st.tuples(days_, st.integers(0, 120)).map(lambda t: (t[0], t[0] + timedelta(days=t[1]))), max_size=12)


def brute(ivs: list[tuple[date, date]], lo: date, hi: date) -> int:
    covered = {a + timedelta(days=i) for a, b in ivs for i in range((b - a).days + 1)}
    return sum(1 for d in covered if lo <= d <= hi)


@settings(max_examples=150, deadline=None)
@given(intervals, st.randoms(use_true_random=False), days_, st.integers(0, 400))
def test_union_is_order_free_counts_repeats_once_and_clips(ivs, rnd, lo, width):
    hi = lo + timedelta(days=width)
    shuffled = list(ivs)
    rnd.shuffle(shuffled)
    got = durations.union_days(ivs, lo, hi)
    assert got == durations.union_days(shuffled, lo, hi) == durations.union_days(ivs + ivs, lo, hi)
    assert got == brute(ivs, lo, hi)
    assert 0 <= got <= width + 1


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 400), st.sampled_from([0.5, 1, 2, 3]), st.integers(1, 4), st.sampled_from([1, 2]))
def test_supply_is_quantity_over_daily_dose(quantity, dose, frequency, period):
    dosage = [{"timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": "d"}},
               "doseAndRate": [{"doseQuantity": {"value": dose, "unit": "tablet"}}]}]
    daily = dose * frequency / period
    got = durations.supply_from_quantity({"value": quantity, "unit": "tab"}, dosage)
    expected = int(quantity // daily)
    assert got == (expected if expected >= 1 else None)
    # more tablets never last fewer days; mismatched units are never divided
    assert (durations.supply_from_quantity({"value": quantity + 10, "unit": "tab"}, dosage) or 0) >= (got or 0)
    assert durations.supply_from_quantity({"value": quantity, "unit": "mg"}, dosage) is None



# A record-level property: however the courses are ordered or repeated, the NSAID days are the same and
# equal the union of what each course states (MedicationStatement periods and MedicationRequest supplies).
_course = st.tuples(st.integers(0, 400), st.integers(1, 60), st.booleans())


def _resource(offset: int, length: int, as_request: bool) -> dict[str, Any]:
    start = DOS - timedelta(days=offset)
    if as_request:
        return request(start, dispense={"expectedSupplyDuration": {"value": length, "code": "d"}})
    return statement(start, end=start + timedelta(days=length - 1), status="completed")



@settings(max_examples=60, deadline=None)
@given(st.lists(_course, max_size=6), st.randoms(use_true_random=False))
def test_nsaid_days_from_records_are_order_free_and_count_repeats_once(courses, rnd):
    matcher = NsaidMatcher(default_library().valuesets)
    lo, hi = months_ago(12), DOS
    resources = [_resource(*c) for c in courses]
    shuffled = resources + [dict(r, id=f"{r['id']}-again") for r in resources]
    rnd.shuffle(shuffled)
    a = nsaid_exposure(PatientRecord(resources), matcher, lo, hi)
    b = nsaid_exposure(PatientRecord(shuffled), matcher, lo, hi)
    starts = [(DOS - timedelta(days=o), DOS - timedelta(days=o) + timedelta(days=n - 1)) for o, n, _ in courses]
    assert a.days == b.days == brute(starts, lo, hi)
    assert a.open == () and a.most_days == a.days


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 90), st.sampled_from([("days", 1), ("d", 1), ("weeks", 7), ("wk", 7)]), st.sampled_from(["for", "x", "×"]))
def test_stated_duration_in_text_or_bounds(n, unit, word):
    name, factor = unit
    assert durations.stated_duration([{"text": f"take 1 tablet twice daily {word} {n} {name}"}]) == (n * factor, None)
    ucum = {"days": "d", "weeks": "wk"}.get(name, name)
    bounds = [{"timing": {"repeat": {"boundsDuration": {"value": n, "code": ucum}}}}]
    assert durations.stated_duration(bounds) == (n * factor, None)


@pytest.mark.parametrize("form, expected", [("Topical Gel", DOC), ("Oral Tablet", MET), (None, MET)])
def test_contained_medication_dose_form_decides(form, expected):
    med: dict[str, Any] = {"resourceType": "Medication", "id": "med1", "code": {"text": "diclofenac sodium"}}
    if form:
        med["form"] = {"text": form}
    s = statement(S, end=S + timedelta(days=29), status="completed")
    s.pop("medicationCodeableConcept")
    s["medicationReference"] = {"reference": "#med1"}
    s["contained"] = [med]
    assert outcome(NSAID["2026-05"], [s], "2026-05")[0] == expected
