"""Evidence as a clinician reads it on a card: one name as the chart records it, one date, then the reference."""
from __future__ import annotations

from datetime import date

from cds_service.cdshooks.presentation import evidence_text
from cds_service.evaluation.clinical import evidence_of


def test_a_drug_is_named_once_as_recorded_not_text_and_display_run_together():
    statement = {"resourceType": "MedicationStatement", "id": "ms-1",
                 "medicationCodeableConcept": {"text": "Naproxen 500 mg tablet", "coding": [
                     {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "198014",
                      "display": "naproxen 500 MG Oral Tablet"}]}}
    text = evidence_text(evidence_of(statement, day=date(2026, 3, 1), field="medicationCodeableConcept"))
    assert text.startswith("Naproxen 500 mg tablet (RxNorm 198014)")
    assert text.lower().count("naproxen") == 1
    assert text.endswith("(MedicationStatement/ms-1)")


def test_the_display_names_a_concept_without_text():
    condition = {"resourceType": "Condition", "id": "c-1", "code": {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50", "display": "Low back pain, unspecified"}]}}
    assert evidence_text(evidence_of(condition)).startswith("Low back pain, unspecified (ICD-10-CM M54.50)")


def test_a_date_the_note_already_gives_is_not_repeated():
    condition = {"resourceType": "Condition", "id": "c-2", "code": {"text": "Lumbar spondylosis"}}
    text = evidence_text(evidence_of(condition, day=date(2025, 9, 20), note="onset 2025-09-20"))
    assert text.count("2025-09-20") == 1
