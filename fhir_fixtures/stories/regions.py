"""Regions: thoracic, cervical, and a code whose region cannot be told."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, registry
from fhir_fixtures.codes import DOC, MET, NA, NOT_MET, REV_2019, REV_2026, C
from fhir_fixtures.stories.common import (
    conservative_care,
    documented_lumbar_candidate,
    dx_attestations,
    neck_pain,
    thoracic_pain,
    two_positive_blocks,
)

SCENARIOS, scenario = registry()


@scenario
def thoracic_injection() -> Scenario:
    s = Scenario(
        "thoracic-injection",
        "s40",
        "64490 at T7-T8 (bodySite SNOMED 122495006): thoracic injection, I.C not met (2019: not a listed region)",
        "Fenella",
        "Ravensworth",
        "female",
        "1970-01-31",
    )
    thoracic_pain(s)
    conservative_care(s)
    dx_attestations(s)
    s.draft_order("64490", levels=("T7-T8",), region=C["thoracic-spine"], intent="diagnostic")
    s.expect(REV_2026, "not-covered", {"I.C": NOT_MET, "I.A.1": NOT_MET})
    s.expect(REV_2019, "not-covered", {"I.A": NOT_MET})
    return s


@scenario
def thoracic_rf() -> Scenario:
    s = Scenario("thoracic-rf", "s41",
                 "64633 at T8-T9 (thoracic bodySite) after two thoracic blocks: I.E not met (2019 III)",
                 "Barnaby", "Quist-Adewale", "male", "1965-09-21")
    thoracic_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=80), s.ago(days=55), code="64490", levels=("T8-T9",),
                        region=C["thoracic-spine"])
    s.draft_order("64633", levels=("T8-T9",), region=C["thoracic-spine"])
    s.expect(REV_2026, "not-covered", {"I.E": NOT_MET, "I.B": NOT_MET})
    s.expect(REV_2019, "not-covered", {"III": NOT_MET})
    return s


@scenario
def cervical_injection() -> Scenario:
    s = Scenario("cervical-injection", "s42",
                 "64490 with bodySite text C5-C6 and neck pain: region cervical, first diagnostic block covered",
                 "Annika", "Moravec-Obi", "female", "1978-10-03")
    conditions = neck_pain(s)
    conservative_care(s)
    dx_attestations(s)
    s.draft_order("64490", levels=("C5-C6",), intent="diagnostic", reasons=conditions)
    s.expect(REV_2026, "covered", {"I.A.1": MET, "I.C": NA, "I.E": NA, "I.A.1.d": MET})
    return s


@scenario
def cervical_code_region_unknown() -> Scenario:
    s = Scenario(
        "cervical-code-region-unknown",
        "s43",
        "64490 without bodySite and only lumbar diagnoses: cervical vs thoracic unknown, I.C and I.A.1 need "
        "documentation",
        "Horatio",
        "Pemberton-Uzor",
        "male",
        "1967-07-17",
    )
    documented_lumbar_candidate(s)
    s.draft_order("64490", intent="diagnostic")
    s.expect(REV_2026, "conditional", {"I.C": DOC, "I.A.1": DOC})
    return s
