"""Record handling: no Coverage, a malformed resource skipped and named."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, registry
from fhir_fixtures.codes import MET, NA, REV_2026
from fhir_fixtures.stories.common import documented_lumbar_candidate, lumbar_injection_order

SCENARIOS, scenario = registry()


@scenario
def no_coverage() -> Scenario:
    s = Scenario(
        "no-coverage",
        "s51",
        "Fully documented first lumbar block but no Coverage anywhere: decision made, cards only (no system action)",
        "Rupert",
        "Aldana-Whitcombe",
        "male",
        "1971-12-19",
        with_coverage=False,
    )
    conditions = documented_lumbar_candidate(s)
    lumbar_injection_order(s, intent=None, reasons=conditions)  # intent inferred: no prior blocks -> diagnostic
    s.expect(REV_2026, "covered", {"I.A.1": MET, "I.A.1.e": NA})
    return s


@scenario
def malformed_observation() -> Scenario:
    s = Scenario(
        "malformed-observation",
        "s52",
        "One Observation has effectiveDateTime 2026-13-45: it is skipped and named; the rest is evaluated, covered",
        "Marguerite",
        "Tennant-Obuya",
        "female",
        "1969-04-04",
    )
    documented_lumbar_candidate(s)
    bad = s.pain_score(9, "2026-13-45")
    s.malformed.append(bad["id"])
    lumbar_injection_order(s)
    s.expect(REV_2026, "covered", {"I.A.1.b": MET, "I.A.1.a": MET})
    return s
