"""Conservative therapy: physical therapy and NSAID courses (05/26 I.A.1.b)."""
from __future__ import annotations

from datetime import timedelta

from fhir_fixtures.builder import Scenario, at, registry
from fhir_fixtures.codes import DOC, MET, NOT_MET, REV_2019, REV_2026, C
from fhir_fixtures.stories.common import (
    conservative_care,
    dx_attestations,
    dx_attestations_2019,
    lumbar_injection_order,
    lumbar_pain,
)

SCENARIOS, scenario = registry()


@scenario
def dx_pt_27_days() -> Scenario:
    s = Scenario("dx-pt-27-days", "s07",
                 "PT sessions span 27 days (first to last): one day short of 4 weeks, I.A.1.b.i not met",
                 "Lucinda", "Marchetti-Oyelaran", "female", "1970-08-19")
    lumbar_pain(s)
    conservative_care(s, pt_days=None)
    first = s.ago(days=150)
    for offset in (0, 7, 14, 21, 27):
        s.pt_session(first + timedelta(days=offset), "97161" if offset == 0 else "97110")
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.i": NOT_MET})
    return s


@scenario
def dx_pt_28_days() -> Scenario:
    s = Scenario("dx-pt-28-days", "s08",
                 "PT sessions span exactly 28 days: the 4-week edge is inclusive, I.A.1.b.i met, covered",
                 "Hollis", "Achterberg", "male", "1964-03-08")
    lumbar_pain(s)
    conservative_care(s, pt_days=None)
    first = s.ago(days=150)
    for offset in (0, 7, 14, 21, 28):
        s.pt_session(first + timedelta(days=offset), "97161" if offset == 0 else "97110")
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.i": MET})
    return s


@scenario
def dx_pt_five_weeks() -> Scenario:
    s = Scenario("dx-pt-five-weeks", "s09",
                 "35 days of PT: 05/26 (4 weeks) met and covered; the same record under 2019 (6 weeks) not met",
                 "Rosalind", "Ekwueme", "female", "1977-12-01")
    lumbar_pain(s)
    conservative_care(s, pt_days=35)
    dx_attestations(s)
    dx_attestations_2019(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.i": MET})
    s.expect(REV_2019, "not-covered", {"I.A.3.a": NOT_MET})
    return s


@scenario
def dx_pt_not_tolerated() -> Scenario:
    s = Scenario(
        "dx-pt-not-tolerated",
        "s10",
        "PT stopped at the first session with a recorded reason (could not tolerate): I.A.1.b.i met by intolerance",
        "Genevieve",
        "Strandquist",
        "female",
        "1958-05-23",
    )
    lumbar_pain(s)
    s.pt_session(s.ago(days=150), "97110", status="stopped",
                 reason="Unable to tolerate therapeutic exercise: severe pain flare during the first session")
    s.nsaid_statement("naproxen", s.ago(days=120), s.ago(days=76))
    s.pain_score(7, at(s.ago(days=21), "15:00"))
    s.interference(6, at(s.ago(days=21), "15:05"))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.i": MET, "I.A.1.b": MET})
    return s


# Conservative therapy: NSAIDs
@scenario
def dx_nsaid_20_days() -> Scenario:
    s = Scenario("dx-nsaid-20-days", "s11",
                 "One NSAID course of 20 days (2026-08-01..2026-08-20, end inclusive): I.A.1.b.ii not met",
                 "Bartholomew", "Nakashima-Reid", "male", "1969-10-10")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_statement("ibuprofen", s.ago(days=111), s.ago(days=92))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.ii": NOT_MET})
    return s


@scenario
def dx_nsaid_21_days() -> Scenario:
    s = Scenario("dx-nsaid-21-days", "s12",
                 "One NSAID course of exactly 21 days (2026-08-01..2026-08-21, end inclusive): I.A.1.b.ii met, covered",
                 "Winifred", "Osei-Lindgren", "female", "1973-07-04")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_statement("ibuprofen", s.ago(days=111), s.ago(days=91))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_recorded_twice() -> Scenario:
    s = Scenario(
        "dx-nsaid-recorded-twice",
        "s13",
        "Two overlapping NSAID courses, each recorded as a statement and a prescription: union is 18 days, not met",
        "Evander",
        "Pulaski-Mbeki",
        "male",
        "1962-01-19",
    )
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    # course A: 12 days; course B: 11 days overlapping A by 5; union = 18 days (sum of records = 46)
    a_start, a_end = s.ago(days=110), s.ago(days=99)
    b_start, b_end = s.ago(days=103), s.ago(days=93)
    s.nsaid_statement("ibuprofen-800", a_start, a_end)
    s.nsaid_request("ibuprofen-800", a_start, a_end)
    s.nsaid_statement("naprosyn-500", b_start, b_end)
    s.nsaid_request("naprosyn-500", b_start, b_end)
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.ii": NOT_MET})
    return s


@scenario
def dx_nsaid_prescription_only() -> Scenario:
    s = Scenario("dx-nsaid-prescription-only", "s14",
                 "NSAID evidence only as a 30-day MedicationRequest of a product code (ibuprofen 800 MG tablet): met",
                 "Imogen", "Castellanos-Pryce", "female", "1979-03-15")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_request("ibuprofen-800", s.ago(days=130), s.ago(days=101))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_allergy() -> Scenario:
    s = Scenario("dx-nsaid-allergy", "s15",
                 "No NSAID ever taken, but an ibuprofen allergy is recorded: I.A.1.b.ii met by contraindication",
                 "Ferdinand", "Ashworth-Adebayo", "male", "1961-11-29")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.nsaid_allergy("ibuprofen", s.ago(months=30), "Angioedema and urticaria")
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_ckd4() -> Scenario:
    s = Scenario("dx-nsaid-ckd4", "s16",
                 "No NSAID taken; chronic kidney disease stage 4 (N18.4) contraindicates them: I.A.1.b.ii met",
                 "Clementine", "Vasquez-Holloway", "female", "1955-02-21")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    s.condition(C["ckd-4"], onset=s.ago(months=40))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b.ii": MET})
    return s


@scenario
def dx_nsaid_straddles_lookback() -> Scenario:
    s = Scenario("dx-nsaid-straddles-lookback", "s17",
                 "A 50-day NSAID course ending 10 days into the 12-month look-back: only those days count, not met",
                 "Ludovic", "Haraldsen", "male", "1967-04-05")
    lumbar_pain(s)
    conservative_care(s, nsaid=None)
    lookback_start = s.ago(months=12)  # 2025-11-20
    s.nsaid_statement("meloxicam", lookback_start - timedelta(days=40), lookback_start + timedelta(days=9))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.b.ii": NOT_MET})
    return s


@scenario
def dx_nsaid_before_lookback() -> Scenario:
    s = Scenario(
        "dx-nsaid-before-lookback",
        "s18",
        "The only NSAID course ended before the 12-month look-back: no NSAID use in the past year, needs documentation",
        "Perpetua",
        "Odhiambo-Stein",
        "female",
        "1963-09-09",
    )
    lumbar_pain(s, onset_months=18)
    conservative_care(s, nsaid=None)
    s.nsaid_statement("naproxen", s.ago(months=16), s.ago(months=14))
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "conditional", {"I.A.1.b.ii": DOC})
    return s
