"""Revisions chosen by the date of service (2019 text, before the first revision)."""
from __future__ import annotations

from datetime import date

from fhir_fixtures.builder import Scenario, registry
from fhir_fixtures.codes import MET, NOT_MET, REV_2019, C
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
