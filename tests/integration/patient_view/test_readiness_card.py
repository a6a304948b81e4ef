"""The patient-view readiness card over real HTTP (the `service` fixture), prefetched and fetched from SEKMET."""
from __future__ import annotations

import re
from typing import Any

import pytest

from cds_service.storage.store import Store
from tests.conftest import FHIR_TOKEN
from tests.integration.patient_view.stack import (
    NO_SPINE_PATIENT,
    RESOLVED_BACK_PAIN_PATIENT,
    SERVICE_ID,
    overview,
    patient_view_body,
)
from tests.support.hook_bodies import prefetch_for
from tests.support.response_checks import check_cds_response
from tests.support.scenarios import scenario

COVERED, DOCS, NOT_COVERED = "would be covered", "needs documentation", "not covered"
NOT_YET = "not yet eligible: needs two diagnostic blocks"  # earlier in the pathway, nothing against it
BLOCK, RF, REPEAT_RF, THERAPEUTIC = ("Lumbar facet block", "Lumbar facet RF ablation",
                                     "Lumbar repeat facet RF ablation", "Lumbar therapeutic facet injection")
# A first block is all a patient with conservative therapy done and nothing else can have.
FIRST_BLOCK_ONLY = {BLOCK: (COVERED, ()), RF: (NOT_YET, ("I.B.1.b",)), THERAPEUTIC: (NOT_YET, ("I.D.1",))}

# scenario id → intervention → (verdict, the criteria the card names as standing in the way)
EXPECTED: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    # the demo patients
    "dx-first-lumbar-covered": FIRST_BLOCK_ONLY,
    "dx-first-lumbar-no-attestations": {**FIRST_BLOCK_ONLY, BLOCK: (DOCS, ("I.A.1.a", "I.A.1.c", "I.A.1.f"))},
    "dx-four-levels": FIRST_BLOCK_ONLY,  # its four levels were a fault of the order, not of the record
    "ultrasound-guided": FIRST_BLOCK_ONLY,  # likewise its ultrasound code
    "rf-initial-covered": {BLOCK: (NOT_COVERED, ("I.A.1",)), RF: (COVERED, ()), THERAPEUTIC: (DOCS, ("I.D.3",))},
    "ther-neurostimulator": {BLOCK: (NOT_COVERED, ("I.A.1",)), RF: (COVERED, ()), THERAPEUTIC: (COVERED, ())},
    # positive contrary evidence (thoracic region, I.B/I.C/I.E) keeps "not covered" even beside missing blocks
    # scenarios: repeat RF decided by the RF history, other regions
    "rf-repeat-5-months": {REPEAT_RF: (NOT_COVERED, ("I.B.2.a",)), THERAPEUTIC: (DOCS, ("I.D.3",))},
    "rf-repeat-7-months-covered": {REPEAT_RF: (COVERED, ())},
    "cervical-injection": {"Cervical facet block": (COVERED, ()),
                           "Cervical facet RF ablation": (NOT_YET, ("I.B.1.b",))},
    "thoracic-injection": {"Thoracic facet block": (NOT_COVERED, ("I.A.1", "I.C")),
                           "Thoracic facet RF ablation": (NOT_COVERED, ("I.B", "I.E")),  # thoracic RF: I.E decides, blocks are not counted
                           "Thoracic therapeutic facet injection": (NOT_COVERED, ("I.C", "I.D.1"))},
}
DEMO_IDS = ("dx-first-lumbar-covered", "dx-first-lumbar-no-attestations", "dx-four-levels", "ultrasound-guided",
            "rf-initial-covered", "ther-neurostimulator")


def _the_card(response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert check_cds_response(body, hook="patient-view") == []
    assert "systemActions" not in body
    assert len(body["cards"]) == 1, body
    return body["cards"][0]


def _prefetched(service, scenario_id: str) -> dict[str, Any]:
    s = scenario(scenario_id)
    return _the_card(service.hook(SERVICE_ID, patient_view_body(s["patientId"], prefetch=prefetch_for(s))))


def _fetched(service, fhir_server: str, patient_id: str):
    return service.hook(SERVICE_ID, patient_view_body(patient_id, fhir_server=fhir_server, token=FHIR_TOKEN))


@pytest.mark.parametrize("scenario_id", list(EXPECTED))
def test_each_intervention_verdict_and_the_criteria_named(service, scenario_id):
    card = _prefetched(service, scenario_id)
    lines = overview(card)
    for intervention, (verdict, criteria) in EXPECTED[scenario_id].items():
        assert intervention in lines, f"{intervention} missing from {list(lines)}"
        assert (lines[intervention].verdict, lines[intervention].criteria) == (verdict, criteria), intervention
    assert card["summary"].startswith("Facet readiness (CP.MP.171 05/26): ")
    assert card["indicator"] == "info"


@pytest.mark.parametrize("scenario_id", DEMO_IDS)
def test_fetched_from_the_fhir_server_reads_like_prefetched(service, fhir_server, scenario_id):
    prefetched = _prefetched(service, scenario_id)
    fetched = _the_card(_fetched(service, fhir_server, scenario(scenario_id)["patientId"]))
    assert (fetched["summary"], fetched["detail"]) == (prefetched["summary"], prefetched["detail"])


def test_summary_says_what_is_ready_and_what_stands_in_the_way(service):
    assert _prefetched(service, "rf-initial-covered")["summary"] == (
        "Facet readiness (CP.MP.171 05/26): lumbar block not covered (I.A.1), RF ready, therapeutic needs docs (I.D.3)")
    assert _prefetched(service, "rf-repeat-5-months")["summary"].startswith(
        "Facet readiness (CP.MP.171 05/26): lumbar block needs docs (I.A.1.b +4), repeat RF not covered (I.B.2.a)")


def test_earlier_in_the_pathway_reads_not_yet_eligible_not_not_covered(service):
    card = _prefetched(service, "dx-first-lumbar-covered")
    assert card["summary"] == ("Facet readiness (CP.MP.171 05/26): lumbar block ready, "
                               "RF not yet eligible (I.B.1.b), therapeutic not yet eligible (I.D.1)")
    assert "not covered" not in card["detail"]


def test_the_card_cites_the_evidence_behind_each_verdict(service):
    detail = _prefetched(service, "rf-initial-covered")["detail"]
    # the two blocks already done are why a third is not covered, and why RF is
    # the record's words for the block first (when it has them), then the code, the date, the reference
    assert re.search(r"(\w.*\(CPT 64493\)|CPT 64493) on 2026-09-06 \(Procedure/s31-block-1\)", detail)
    assert re.search(r"(\w.*\(CPT 64493\)|CPT 64493) on 2026-10-01 \(Procedure/s31-block-2\)", detail)
    assert "2 diagnostic blocks already done in this region (limit 2)" in detail
    assert "CP.MP.171 revision 05/26" in detail and "2026-11-20" in detail


def test_hypothetical_orders_use_the_region_code_and_the_levels_of_the_record(service):
    assert overview(_prefetched(service, "rf-initial-covered"))[RF].codes == "64635, L4-L5, L5-S1"  # as the blocks
    assert overview(_prefetched(service, "dx-first-lumbar-covered"))[BLOCK].codes == "64493, L4-L5"
    assert overview(_prefetched(service, "cervical-injection"))["Cervical facet block"].codes == "64490, C5-C6"


@pytest.mark.parametrize("patient_id", [NO_SPINE_PATIENT, RESOLVED_BACK_PAIN_PATIENT])
def test_no_card_without_an_active_spinal_pain_diagnosis(service, fhir_server_with_extra_patients, patient_id):
    response = _fetched(service, fhir_server_with_extra_patients, patient_id)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}


def test_fhir_failure_gives_one_plain_card_and_no_error(service, dead_fhir_server):
    card = _the_card(_fetched(service, dead_fhir_server, "s01-patient"))
    assert card["summary"] == "Facet readiness (CP.MP.171): could not be checked right now"
    for leak in ("127.0.0.1", "onnect", "rror", "Traceback", "timed out"):
        assert leak not in card["detail"]


def test_each_call_is_audited_with_its_hypothetical_decisions(service):
    s = scenario("rf-initial-covered")
    body = patient_view_body(s["patientId"], prefetch=prefetch_for(s))
    _the_card(service.hook(SERVICE_ID, body))
    audit = Store(service.log_path.parent / "cds.sqlite3").recent_audit(limit=200)
    entry = next(row for row in audit if row["hook_instance"] == body["hookInstance"])
    assert (entry["hook"], entry["service_id"], entry["status"]) == ("patient-view", SERVICE_ID, 200)
    assert s["patientId"] not in str(entry)  # a keyed hash, never the id
    decisions = {d["orders"][0]: d["decision"] for d in entry["decisions"]}
    assert decisions == {"readiness-lumbar-block": "not-covered", "readiness-lumbar-rf": "covered",
                         "readiness-lumbar-therapeutic": "conditional"}
