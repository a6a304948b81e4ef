"""Technique, guidance and other procedures: pulsed RF, ultrasound, epidural, MRI."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, registry
from fhir_fixtures.codes import LUMBAR_2, NOT_MET, REV_2019, REV_2026
from fhir_fixtures.stories.common import (
    conservative_care,
    documented_lumbar_candidate,
    lumbar_injection_order,
    lumbar_pain,
    two_positive_blocks,
)

SCENARIOS, scenario = registry()


@scenario
def pulsed_rf() -> Scenario:
    s = Scenario("pulsed-rf", "s44",
                 "64999 'Pulsed radiofrequency of lumbar medial branch nerves': I.F not met (2019 IV)",
                 "Gwendolyn", "Ashby-Okafor", "female", "1963-12-05")
    lumbar_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=75), s.ago(days=50))
    s.draft_order("64999", levels=LUMBAR_2, text="Pulsed radiofrequency of lumbar medial branch nerves")
    s.expect(REV_2026, "not-covered", {"I.F": NOT_MET})
    s.expect(REV_2019, "not-covered", {"IV": NOT_MET})
    return s


@scenario
def ultrasound_guided() -> Scenario:
    s = Scenario(
        "ultrasound-guided",
        "s45",
        "0216T ultrasound-guided lumbar block: Table 2 and I.A guidance not met; the fix is 64493 (Propose-Alternate)",
        "Esmeralda",
        "Fairbairn-Okoye",
        "female",
        "1969-02-25",
        demo=True,
    )
    conditions = documented_lumbar_candidate(s)
    s.draft_order("0216T", levels=("L4-L5",), intent="diagnostic", reasons=conditions)
    s.expect(REV_2026, "not-covered", {"Table 2": NOT_MET, "I.A": NOT_MET})
    return s


@scenario
def epidural_same_visit() -> Scenario:
    s = Scenario(
        "epidural-same-visit",
        "s46",
        "Lumbar facet block and an epidural (62323) in the same draftOrders: one procedure per visit, I not met",
        "Montgomery",
        "Iwu-Halvorsen",
        "male",
        "1960-05-12",
    )
    documented_lumbar_candidate(s)
    lumbar_injection_order(s, levels=("L4-L5",))
    s.draft_order("62323", levels=("L4-L5",))
    s.expect(REV_2026, "not-covered", {"I": NOT_MET})
    s.expect(REV_2019, "not-covered", {"I": NOT_MET})
    return s


@scenario
def mri_only() -> Scenario:
    s = Scenario("mri-only", "s47",
                 "Only a lumbar MRI is ordered (no Coverage on file): out of scope, no determination at all",
                 "Tobias", "Wetherell", "male", "1980-08-22", with_coverage=False)
    conditions = lumbar_pain(s)
    s.draft_order("mri-lumbar", reasons=conditions)
    return s  # expected: []
