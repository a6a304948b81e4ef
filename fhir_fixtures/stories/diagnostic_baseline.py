"""Diagnostic blocks: the baseline first block and its documentation (05/26 I.A.1)."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, at, registry
from fhir_fixtures.codes import DOC, MET, NA, NOT_MET, REV_2019, REV_2026
from fhir_fixtures.stories.common import (
    conservative_care,
    documented_lumbar_candidate,
    dx_attestations,
    lumbar_injection_order,
    lumbar_pain,
)

SCENARIOS, scenario = registry()


@scenario
def dx_first_lumbar_covered() -> Scenario:
    s = Scenario(
        "dx-first-lumbar-covered",
        "s01",
        "First lumbar diagnostic block (L4-L5, L5-S1), every 05/26 criterion met; ADL, findings and RF-considered "
        "attested",
        "Marisol",
        "Quintero-Vance",
        "female",
        "1968-04-12",
        doctor="Okonkwo",
        demo=True,
    )
    conditions = lumbar_pain(s)
    conservative_care(s, adl=False)  # ADL interference is attested instead of measured
    dx_attestations(s, adl=True)
    lumbar_injection_order(s, reasons=conditions)
    s.expect(REV_2026, "covered", {
        "I": MET, "I.A": MET, "I.A.1": MET, "I.A.1.a": MET, "I.A.1.b": MET, "I.A.1.b.i": MET,
        "I.A.1.b.i Note": NA, "I.A.1.b.ii": MET, "I.A.1.c": MET, "I.A.1.d": MET, "I.A.1.e": NA,
        "I.A.1.f": MET, "I.A.1 Note": NA, "I.B": NA, "I.C": NA, "I.D": NA, "Table 2": NA,
    })
    # The 05/26 attestations do not answer the 2019 Questionnaire.
    s.expect(REV_2019, "conditional", {"I.A.2": DOC, "I.A.3.c": DOC, "I.A.3bis": DOC, "I.A.3.a": MET})
    return s


@scenario
def dx_first_lumbar_no_attestations() -> Scenario:
    s = Scenario(
        "dx-first-lumbar-no-attestations",
        "s02",
        "The same first lumbar block with no QuestionnaireResponse: conditional, naming I.A.1.a, I.A.1.c, I.A.1.f",
        "Theodore",
        "Blankenship",
        "male",
        "1959-09-03",
        doctor="Adeyemi",
        demo=True,
    )
    conditions = lumbar_pain(s)
    conservative_care(s, adl=False)
    lumbar_injection_order(s, reasons=conditions)
    s.expect(REV_2026, "conditional", {
        "I.A.1.a": DOC, "I.A.1.b": MET, "I.A.1.b.i": MET, "I.A.1.b.ii": MET, "I.A.1.c": DOC,
        "I.A.1.d": MET, "I.A.1.f": DOC,
    })
    return s


@scenario
def dx_pain_two_months() -> Scenario:
    s = Scenario(
        "dx-pain-two-months",
        "s03",
        "Back pain began only 2 months ago (attested 'yes' anyway): I.A.1.a not met, the record wins over the "
        "attestation",
        "Priya",
        "Ramaswamy-Holt",
        "female",
        "1981-01-27",
    )
    lumbar_pain(s, onset_months=2)
    s.pt_course(s.ago(days=50), 35)
    s.nsaid_statement("ibuprofen", s.ago(days=55), s.ago(days=25))
    s.pain_score(6, at(s.ago(days=7), "15:00"))
    s.interference(5, at(s.ago(days=7), "15:05"))
    dx_attestations(s, adl=True)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.a": NOT_MET, "I.A.1.b.i": MET, "I.A.1.b.ii": MET})
    return s


@scenario
def dx_no_post_therapy_pain_score() -> Scenario:
    s = Scenario(
        "dx-no-post-therapy-pain-score",
        "s04",
        "PT and NSAIDs done, but no pain score after them: failed conservative therapy (I.A.1.b) needs documentation",
        "Anselm",
        "Torvik",
        "male",
        "1972-06-30",
    )
    lumbar_pain(s)
    conservative_care(s, post_pain=None)
    s.pain_score(7, at(s.ago(days=230), "15:00"))  # before PT started: does not show failure of therapy
    dx_attestations(s)
    lumbar_injection_order(s)
    s.expect(REV_2026, "conditional", {"I.A.1.b": DOC, "I.A.1.b.i": MET, "I.A.1.b.ii": MET})
    return s


@scenario
def dx_no_requester() -> Scenario:
    s = Scenario(
        "dx-no-requester",
        "s05",
        "Fully documented first lumbar block, but the draft order names no requester or performer: I needs "
        "documentation",
        "Oona",
        "Featherstone",
        "female",
        "1975-11-02",
    )
    documented_lumbar_candidate(s)
    lumbar_injection_order(s, requester=False)
    s.expect(REV_2026, "conditional", {"I": DOC, "I.A": MET, "I.A.1": MET})
    return s


@scenario
def dx_rf_not_considered() -> Scenario:
    s = Scenario("dx-rf-not-considered", "s06",
                 "Clinician attests that RF denervation is NOT being considered: I.A.1.f not met",
                 "Casimir", "Wolankiewicz", "male", "1966-02-14")
    lumbar_pain(s)
    conservative_care(s)
    dx_attestations(s, rf_considered=False)
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.f": NOT_MET, "I.A.1.c": MET})
    return s
