"""Levels per session (05/26 I.A.1.d)."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, registry
from fhir_fixtures.codes import DOC, NOT_MET, REV_2026
from fhir_fixtures.stories.common import documented_lumbar_candidate, lumbar_injection_order

SCENARIOS, scenario = registry()


@scenario
def dx_four_levels() -> Scenario:
    s = Scenario(
        "dx-four-levels",
        "s25",
        "64493+64494+64495 at four levels (L2-L3..L5-S1): I.A.1.d not met; Propose-Alternate keeps the first 3",
        "Augustin",
        "Velasquez-Thorne",
        "male",
        "1963-02-02",
        demo=True,
    )
    conditions = documented_lumbar_candidate(s)
    lumbar_injection_order(s, levels=("L2-L3", "L3-L4", "L4-L5", "L5-S1"), reasons=conditions)
    s.expect(REV_2026, "not-covered", {"I.A.1.d": NOT_MET})
    return s


@scenario
def dx_64495_without_body_site() -> Scenario:
    s = Scenario("dx-64495-without-body-site", "s26",
                 "64493+64494+64495 with no bodySite: '3 or more' levels cannot be told, I.A.1.d needs documentation",
                 "Cordelia", "Fitzwarren", "female", "1974-09-14")
    documented_lumbar_candidate(s)
    s.draft_order("64493", intent="diagnostic")
    s.draft_order("64494", intent="diagnostic")
    s.draft_order("64495", intent="diagnostic")
    s.expect(REV_2026, "conditional", {"I.A.1.d": DOC})
    return s
