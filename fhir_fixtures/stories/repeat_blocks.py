"""Second and third diagnostic blocks (05/26 I.A.1, I.A.1.e, I.A.1 Note)."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, at, registry
from fhir_fixtures.codes import MET, NA, NOT_MET, REV_2019, REV_2026
from fhir_fixtures.stories.common import (
    documented_lumbar_candidate,
    dx_attestations_2019,
    lumbar_injection_order,
    two_positive_blocks,
)

SCENARIOS, scenario = registry()


@scenario
def dx_second_block_13_days() -> Scenario:
    s = Scenario("dx-second-block-13-days", "s27",
                 "Second block 13 days after a first block with 87.5% relief: under two weeks apart, I.A.1.e not met",
                 "Emeric", "Lindqvist-Osei", "male", "1968-11-11")
    documented_lumbar_candidate(s)
    dx_attestations_2019(s)
    s.block("64493", s.ago(days=13), intent="diagnostic", before=8, after=1)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1": MET, "I.A.1.e": NOT_MET, "I.A.1 Note": NA})
    s.expect(REV_2019, "not-covered", {"I.A.1": NOT_MET})
    return s


@scenario
def dx_second_block_14_days() -> Scenario:
    s = Scenario(
        "dx-second-block-14-days",
        "s28",
        "Second block exactly 14 days after a first block with 87.5% relief at the same levels: I.A.1.e met, covered",
        "Sunniva",
        "Abernathy-Kowalczyk",
        "female",
        "1976-04-28",
    )
    documented_lumbar_candidate(s)
    s.block("64493", s.ago(days=14), intent="diagnostic", before=8, after=1)
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1": MET, "I.A.1.e": MET, "I.A.1 Note": NA, "I.A.1.a": MET})
    return s


@scenario
def dx_second_block_78_percent() -> Scenario:
    s = Scenario("dx-second-block-78-percent", "s29",
                 "Second block after a first with 78% relief (recorded %): 05/26 (>=80%) not met; 2019 (>=75%) met",
                 "Thaddeus", "Moreau-Achterberg", "male", "1960-07-07")
    documented_lumbar_candidate(s)
    dx_attestations_2019(s)
    first = s.block("64493", s.ago(days=30), intent="diagnostic", before=None, after=None)
    s.percent_relief(78, at(s.ago(days=30), "10:30"), part_of=first)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1 Note": NOT_MET, "I.A.1.e": NOT_MET})
    s.expect(REV_2019, "covered", {"I.A.1": MET, "I.A Note": NA, "I.A.3.a": MET})
    return s


@scenario
def dx_third_block() -> Scenario:
    s = Scenario(
        "dx-third-block",
        "s30",
        "A third diagnostic block, two positive ones already done and no RF since: I.A.1 not met (2019 I.A too)",
        "Octavia",
        "Brennan-Achebe",
        "female",
        "1964-08-16",
    )
    documented_lumbar_candidate(s)
    two_positive_blocks(s, s.ago(days=60), s.ago(days=40))
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1": NOT_MET})
    s.expect(REV_2019, "not-covered", {"I.A": NOT_MET})
    return s
