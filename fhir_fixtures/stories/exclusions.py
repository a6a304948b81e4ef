"""Clinical findings and exclusions (05/26 I.A.1.c): fracture, tumour, infection, radiculopathy, myelopathy, cyst."""
from __future__ import annotations

from fhir_fixtures.builder import Scenario, at, registry
from fhir_fixtures.codes import MET, NOT_MET, REV_2026, C
from fhir_fixtures.stories.common import (
    documented_lumbar_candidate,
    dx_attestations,
    lumbar_injection_order,
    lumbar_pain,
)

SCENARIOS, scenario = registry()


def excluded_candidate(sid: str, tag: str, purpose: str, names: tuple[str, str, str, str], exclusion: str) -> Scenario:
    s = Scenario(sid, tag, purpose, *names)
    documented_lumbar_candidate(s)
    s.condition(C[exclusion], onset=s.ago(months=3))
    lumbar_injection_order(s)
    s.expect(REV_2026, "not-covered", {"I.A.1.c": NOT_MET})
    return s


@scenario
def dx_exclusion_fracture() -> Scenario:
    return excluded_candidate("dx-exclusion-fracture", "s19",
                              "Active osteoporotic lumbar vertebral fracture (findings attested): I.A.1.c not met",
                              ("Agatha", "Penhallow", "female", "1949-06-17"), "vertebral-fracture")


@scenario
def dx_exclusion_tumour() -> Scenario:
    return excluded_candidate("dx-exclusion-tumour", "s20",
                              "Active malignant neoplasm of the vertebral column (C41.2): I.A.1.c not met",
                              ("Desmond", "Achebe-Farrow", "male", "1957-08-08"), "vertebral-tumour")


@scenario
def dx_exclusion_infection() -> Scenario:
    return excluded_candidate("dx-exclusion-infection", "s21",
                              "Active lumbar vertebral osteomyelitis (M46.26): I.A.1.c not met",
                              ("Henrietta", "Sokolowska", "female", "1966-12-12"), "vertebral-osteomyelitis")


@scenario
def dx_exclusion_radiculopathy() -> Scenario:
    return excluded_candidate("dx-exclusion-radiculopathy", "s22",
                              "Active lumbar radiculopathy (M54.16) and no synovial cyst: I.A.1.c not met",
                              ("Ignatius", "Delacroix-Mwangi", "male", "1971-05-05"), "lumbar-radiculopathy")


@scenario
def dx_exclusion_myelopathy() -> Scenario:
    return excluded_candidate("dx-exclusion-myelopathy", "s23",
                              "Active lumbar spondylosis with myelopathy (M47.16): I.A.1.c not met",
                              ("Philippa", "Grunewald", "female", "1960-10-30"), "lumbar-myelopathy")


@scenario
def dx_synovial_cyst() -> Scenario:
    s = Scenario(
        "dx-synovial-cyst",
        "s24",
        "Facet synovial cyst + radiculopathy + pain 7/10, no PT: PT exception met (I.A.1.b.i Note, I.A.1.b.i); "
        "radiculopathy excused",
        "Raffaele",
        "Odukoya-Brandt",
        "male",
        "1965-03-22",
    )
    lumbar_pain(s)
    s.condition(C["synovial-cyst"], onset=s.ago(months=4), body_site="Right L4-L5 facet joint",
                note="Right L4-L5 facet joint synovial cyst compressing the L5 nerve root (MRI)")
    s.condition(C["lumbar-radiculopathy"], onset=s.ago(months=4))
    s.nsaid_statement("naproxen", s.ago(days=100), s.ago(days=60))
    s.pain_score(7, at(s.ago(days=14), "15:00"))
    s.interference(7, at(s.ago(days=14), "15:05"))
    dx_attestations(s)
    lumbar_injection_order(s, levels=("L4-L5",))
    s.expect(REV_2026, "covered", {
        "I.A.1.b.i Note": MET, "I.A.1.b.i": MET, "I.A.1.b": MET, "I.A.1.c": MET,
    })
    return s
