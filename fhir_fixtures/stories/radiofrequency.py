"""Radiofrequency neurotomy, initial and repeat (05/26 I.B, I.C)."""
from __future__ import annotations

from datetime import date, timedelta

from fhir_fixtures.builder import Scenario, add_months, at, registry
from fhir_fixtures.codes import DOC, LUMBAR_2, MET, NA, NOT_MET, REV_2019, REV_2026
from fhir_fixtures.stories.common import conservative_care, lumbar_pain, two_positive_blocks

SCENARIOS, scenario = registry()


@scenario
def rf_initial_covered() -> Scenario:
    s = Scenario(
        "rf-initial-covered",
        "s31",
        "Initial lumbar RF (64635+64636) after two blocks with >=80% relief: covered; under 2019 the movement "
        "attestation is missing",
        "Cornelius",
        "Haverford-Nwosu",
        "male",
        "1958-12-24",
        doctor="Adeyemi",
        demo=True,
    )
    conditions = lumbar_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=75), s.ago(days=50))
    s.draft_order("64635", levels=LUMBAR_2, reasons=conditions)
    s.draft_order("64636", quantity_value=1)
    s.expect(REV_2026, "covered", {
        "I": MET, "I.B": MET, "I.B.1.a": MET, "I.B.1.b": MET, "I.B.1.c": MET,
        "I.B.2.a": NA, "I.B.2.b": NA, "I.B.2.c": NA, "I.A": NA, "I.E": NA, "I.F": NA,
    })
    s.expect(REV_2019, "conditional", {"II.A.2": DOC})
    return s


@scenario
def rf_initial_one_block() -> Scenario:
    s = Scenario("rf-initial-one-block", "s32",
                 "Initial lumbar RF after only one diagnostic block (90% relief): I.B.1.b not met",
                 "Beatrix", "Solberg-Umeh", "female", "1966-05-31")
    lumbar_pain(s)
    conservative_care(s)
    s.block("64493", s.ago(days=40), intent="diagnostic", before=10, after=1)
    s.draft_order("64635", levels=LUMBAR_2)
    s.draft_order("64636", quantity_value=1)
    s.expect(REV_2026, "not-covered", {"I.B.1.b": NOT_MET})
    return s


def rf_history(s: Scenario, rf_months_ago: int) -> dict:
    """Two positive blocks, then an RF `rf_months_ago` months before the DOS with a pre-RF pain
    score of 8 and interference 7 (both part of the RF)."""
    lumbar_pain(s, onset_months=rf_months_ago + 12)
    rf_day = s.ago(months=rf_months_ago)
    two_positive_blocks(s, rf_day - timedelta(days=60), rf_day - timedelta(days=35))
    rf = s.rf(rf_day)
    s.pain_score(8, at(rf_day, "08:30"), part_of=rf, marker="pre-procedure")
    s.interference(7, at(rf_day, "08:35"), part_of=rf)
    s.pain_score(2, at(rf_day, "10:30"), part_of=rf, marker="post-procedure")
    return rf


def repeat_rf_order(s: Scenario) -> None:
    s.draft_order("64635", levels=LUMBAR_2)
    s.draft_order("64636", quantity_value=1)


@scenario
def rf_repeat_5_months() -> Scenario:
    s = Scenario("rf-repeat-5-months", "s33",
                 "Repeat lumbar RF only 5 months after the previous one: I.B.2.a not met",
                 "Leopold", "Marchbanks-Eze", "male", "1955-10-19")
    rf = rf_history(s, 5)
    s.follow_up(rf, {1: 2, 3: 3, (4, 15): 3})
    repeat_rf_order(s)
    s.expect(REV_2026, "not-covered", {"I.B.2.a": NOT_MET})
    return s


@scenario
def rf_repeat_7_months_covered() -> Scenario:
    s = Scenario(
        "rf-repeat-7-months-covered",
        "s34",
        "Repeat lumbar RF 7 months after the last; >=50% relief sustained 6 months and interference 7 -> 3: covered",
        "Serafina",
        "Dunmore-Achterberg",
        "female",
        "1957-03-03",
    )
    rf = rf_history(s, 7)
    s.follow_up(rf, {1: 2, 3: 3, (6, 3): 3})
    s.interference(3, at(add_months(date.fromisoformat(rf["performedDateTime"][:10]), 6) + timedelta(days=3), "10:05"),
                   part_of=rf)
    repeat_rf_order(s)
    s.expect(REV_2026, "covered", {
        "I.B.2.a": MET, "I.B.2.b": MET, "I.B.2.c": MET, "I.B.1.a": NA, "I.B.1.b": NA, "I.B.1.c": NA,
    })
    return s


@scenario
def rf_repeat_relief_5_months() -> Scenario:
    s = Scenario(
        "rf-repeat-relief-5-months",
        "s35",
        "Repeat lumbar RF 8 months after the last; relief held 5 months then pain 7/10: 2019 (4 months) met, 05/26 (6 "
        "months) not met",
        "Ambrose",
        "Kettleworth-Oni",
        "male",
        "1954-01-09",
    )
    rf = rf_history(s, 8)
    s.follow_up(rf, {1: 2, 3: 3, 4: 3, 5: 3, (5, 15): 7})
    s.interference(3, at(add_months(date.fromisoformat(rf["performedDateTime"][:10]), 5), "10:05"), part_of=rf)
    repeat_rf_order(s)
    s.expect(REV_2026, "not-covered", {"I.B.2.a": MET, "I.B.2.b": NOT_MET})
    s.expect(REV_2019, "covered", {"II.B.1": MET, "II.B.2": MET, "II.B.3": MET})
    return s
