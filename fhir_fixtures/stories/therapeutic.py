"""Therapeutic facet injections (05/26 I.D; 2019 V)."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, add_months, at, registry
from fhir_fixtures.codes import DOC, MET, NA, NOT_MET, REV_2019, REV_2026, C
from fhir_fixtures.stories.common import (
    lumbar_injection_order,
    therapeutic_candidate,
)

SCENARIOS, scenario = registry()


@scenario
def ther_neurostimulator() -> Scenario:
    s = Scenario(
        "ther-neurostimulator",
        "s36",
        "Therapeutic lumbar injection, two positive blocks, implanted neurostimulator (Z96.82): 05/26 covered; 2019 V "
        "not met",
        "Millicent",
        "Achterberg-Yusuf",
        "female",
        "1962-06-06",
        doctor="Okonkwo",
        demo=True,
    )
    conditions = therapeutic_candidate(s)
    stimulator = s.condition(C["neurostimulator"], onset=s.ago(months=26),
                             note="Spinal cord stimulator implanted for failed back surgery syndrome")
    lumbar_injection_order(s, intent="therapeutic", reasons=[*conditions, stimulator])
    s.expect(REV_2026, "covered", {
        "I": MET, "I.D": MET, "I.D.1": MET, "I.D.2": NA, "I.D.3": MET, "I.D.4": MET, "I.A": NA, "I.A.1": NA,
    })
    s.expect(REV_2019, "not-covered", {"V": NOT_MET})
    return s


@scenario
def ther_no_rf_contraindication() -> Scenario:
    s = Scenario(
        "ther-no-rf-contraindication",
        "s37",
        "Therapeutic lumbar injection with no documented reason why RF is not an option: I.D.3 needs documentation",
        "Reginald",
        "Oyelowo-Hastings",
        "male",
        "1961-04-14",
    )
    therapeutic_candidate(s)
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2026, "conditional", {"I.D.1": MET, "I.D.3": DOC})
    return s


@scenario
def ther_repeat_relief_2_months() -> Scenario:
    s = Scenario(
        "ther-repeat-relief-2-months",
        "s38",
        "Repeat therapeutic injection; relief after the last one lasted 2 months (7/10 at 2.5 months) and ADL "
        "interference barely improved (7 before it, 5-6 after): I.D.2 not met on both of its branches",
        "Wilhelmina",
        "Carrow-Adeleke",
        "female",
        "1953-11-27",
    )
    therapeutic_candidate(s, blocks_ago_days=(270, 240))
    s.device("pacemaker-device")
    prior = s.block("64493", s.ago(months=4), intent="therapeutic", before=8, after=2)
    s.follow_up(prior, {1: 3, 2: 3, (2, 15): 7})
    s.interference(7, at(s.ago(months=4), "07:30"))  # the baseline on the same scale, before the injection
    s.interference(5, at(s.ago(months=3), "10:05"))
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2026, "not-covered", {"I.D.2": NOT_MET, "I.D.3": MET})
    return s


@scenario
def ther_repeat_relief_4_months() -> Scenario:
    s = Scenario(
        "ther-repeat-relief-4-months",
        "s39",
        "Repeat therapeutic injection; >=50% relief held 4 months after the last one; pseudarthrosis (M96.0): covered",
        "Jasper",
        "Underhill-Nakamura",
        "male",
        "1959-02-08",
    )
    therapeutic_candidate(s, blocks_ago_days=(300, 270))
    s.condition(C["pseudarthrosis"], onset=s.ago(months=20))
    prior = s.block("64493", s.ago(months=5), intent="therapeutic", before=8, after=2)
    s.interference(7, at(s.ago(months=5), "08:35"), part_of=prior)
    s.follow_up(prior, {1: 2, 3: 3, 4: 3})
    s.interference(3, at(add_months(s.ago(months=5), 4), "10:05"), part_of=prior)
    lumbar_injection_order(s, intent="therapeutic")
    s.expect(REV_2026, "covered", {"I.D.2": MET, "I.D.3": MET})
    return s
