"""Revisions chosen by the date of service (2019 text, before the first revision)."""
from __future__ import annotations

from datetime import date, timedelta

from fhir_fixtures.builder import Scenario, registry
from fhir_fixtures.codes import MET, NOT_MET, REV_2019, REV_2024, REV_2025, C
from fhir_fixtures.stories.common import (
    conservative_care,
    dx_attestations_2019,
    lumbar_injection_order,
    lumbar_pain,
    therapeutic_candidate,
)

SCENARIOS, scenario = registry()


def documented_lumbar_candidate_2019(s: Scenario) -> None:
    lumbar_pain(s)
    conservative_care(s)
    dx_attestations_2019(s)


@scenario
def dos_2023_first_block() -> Scenario:
    s = Scenario(
        "dos-2023-first-block",
        "s48",
        "First lumbar diagnostic block dated 2023-03-01: the 2019 revision is chosen by date; fully documented, "
        "covered",
        "Harriet",
        "Okafor-Lindstrom",
        "female",
        "1966-07-25",
        dos=date(2023, 3, 1),
    )
    documented_lumbar_candidate_2019(s)
    lumbar_injection_order(s)
    s.expect(REV_2019, "covered", {"I.A": MET, "I.A.2": MET, "I.A.3.a": MET, "I.A.3.c": MET, "I.A.3bis": MET})
    return s


@scenario
def dos_2023_therapeutic() -> Scenario:
    s = Scenario(
        "dos-2023-therapeutic",
        "s49",
        "Therapeutic lumbar injection dated 2023-06-15: 2019 chosen by date, therapeutic injections are not medically "
        "necessary (V)",
        "Percival",
        "Danforth-Eze",
        "male",
        "1958-03-18",
        dos=date(2023, 6, 15),
    )
    therapeutic_candidate(s)
    s.condition(C["neurostimulator"], onset=s.ago(months=30))
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2019, "not-covered", {"V": NOT_MET})
    return s


@scenario
def dos_2018_before_policy() -> Scenario:
    s = Scenario("dos-2018-before-policy", "s50",
                 "Lumbar block dated 2018-05-01, before the earliest revision (2019-07-01): no decision, card only",
                 "Eudora", "Pickering-Asante", "female", "1955-09-01", dos=date(2018, 5, 1))
    lumbar_pain(s)
    conservative_care(s)
    lumbar_injection_order(s)
    s.expect(None, "none", {})
    return s


# The reconstructed 06/24 and 05/25 revisions, chosen by date. What they say (their `text` in the revision files):
# 06/24 I.A.1.b.i "≥ four weeks physical therapy or prescribed home exercise program" (no intolerance alternative),
# I.A.1.b.ii "≥ four weeks activity modification" (attested), I.A.1.b.iii NSAIDs ≥ 3 weeks; 05/25 adds "or
# documentation of member/enrollee inability to tolerate" to I.A.1.b.i and numbers NSAIDs I.A.1.b.ii, as 05/26.
DOS_2024 = date(2024, 11, 20)
DOS_2025 = date(2025, 11, 20)
ACTIVITY_MODIFICATION_2024 = {"I.A.1.b.ii": "At least 4 weeks of activity modification"}


def dx_attestations_2024(s: Scenario) -> None:
    """06/24: findings, RF being considered and the activity modification nothing structured can show."""
    s.attestation(REV_2024, {"I.A.1.c": True, "I.A.1.f": True, "I.A.1.b.ii": True}, texts=ACTIVITY_MODIFICATION_2024)


def pt_stopped_not_tolerated(s: Scenario) -> None:
    """Two weeks of PT (evaluation, two treatments), then a session stopped because the patient could not tolerate it;
    an NSAID course of 45 days, pain still 6/10 and interfering with ADLs afterwards."""
    lumbar_pain(s)
    conservative_care(s, pt_days=None)
    first = s.ago(days=150)
    for offset in (0, 7, 14):
        s.pt_session(first + timedelta(days=offset), "97161" if offset == 0 else "97110")
    s.pt_session(first + timedelta(days=17), "97110", status="stopped",
                 reason="Unable to tolerate therapeutic exercise: severe pain flare, programme discontinued")


@scenario
def dos_2024_first_block() -> Scenario:
    s = Scenario("dos-2024-first-block", "s53",
                 "First lumbar diagnostic block dated 2024-11-20: the 06/24 revision is chosen by date; 8 weeks of PT, "
                 "45 days of NSAIDs, activity modification attested (06/24 I.A.1.b.ii): covered",
                 "Ottoline", "Brathwaite-Kowalczyk", "female", "1967-02-09", dos=DOS_2024)
    lumbar_pain(s)
    conservative_care(s)
    dx_attestations_2024(s)
    lumbar_injection_order(s)
    s.expect(REV_2024, "covered", {"I.A.1.a": MET, "I.A.1.b": MET, "I.A.1.b.i": MET, "I.A.1.b.ii": MET,
                                   "I.A.1.b.iii": MET, "I.A.1.c": MET, "I.A.1.d": MET, "I.A.1.f": MET})
    return s


@scenario
def dos_2024_pt_not_tolerated() -> Scenario:
    s = Scenario("dos-2024-pt-not-tolerated", "s54",
                 "Dated 2024-11-20 (06/24): two weeks of PT, then stopped as not tolerated; 06/24 has no intolerance "
                 "alternative, so I.A.1.b.i is not met",
                 "Barnaby", "Oyelowo-Fitzgerald", "male", "1961-10-30", dos=DOS_2024)
    pt_stopped_not_tolerated(s)
    dx_attestations_2024(s)
    lumbar_injection_order(s)
    s.expect(REV_2024, "not-covered", {"I.A.1.b.i": NOT_MET, "I.A.1.b.ii": MET, "I.A.1.b.iii": MET})
    return s


@scenario
def dos_2025_pt_not_tolerated() -> Scenario:
    s = Scenario("dos-2025-pt-not-tolerated", "s55",
                 "The same story dated 2025-11-20 (05/25): inability to tolerate PT is documented, so I.A.1.b.i is met "
                 "(the alternative 05/25 added); covered",
                 "Clementine", "Adeyemi-Rasmussen", "female", "1963-06-14", dos=DOS_2025)
    pt_stopped_not_tolerated(s)
    s.attestation(REV_2025, {"I.A.1.c": True, "I.A.1.f": True})
    lumbar_injection_order(s)
    s.expect(REV_2025, "covered", {"I.A.1.a": MET, "I.A.1.b": MET, "I.A.1.b.i": MET, "I.A.1.b.ii": MET,
                                   "I.A.1.c": MET, "I.A.1.f": MET})
    return s
