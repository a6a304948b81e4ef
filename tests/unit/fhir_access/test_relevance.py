"""The relevance prefilter: what certainly cannot matter is never validated, never named, never refused."""
from __future__ import annotations

from typing import Any

import pytest

from cds_service.fhir_access.relevance import is_relevant, normalize_relevant, relevant_codes, relevant_only
from cds_service.policy.conventions import FACET_CDS_CODES, LOINC, PERCENT_RELIEF_CODE
from cds_service.policy.library import DATA_DIR
from cds_service.policy.loader import load_valuesets

VALUESETS = load_valuesets(DATA_DIR / "valuesets.json")
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"


def _observation(oid: str, system: str | None, code: str, value: Any = 5, **extra: Any) -> dict[str, Any]:
    coding = {"code": code} if system is None else {"system": system, "code": code}
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [coding]}, "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-10-01", "valueQuantity": {"value": value}, **extra,
    }


def test_a_malformed_vital_sign_is_neither_validated_nor_named_as_skipped():
    heart_rate = _observation("hr-1", LOINC, "8867-4", value="fast")  # invalid decimal: validation would refuse it

    batch = normalize_relevant([heart_rate], VALUESETS)

    assert batch.skipped == [] and batch.resources == []


def test_a_malformed_pain_score_is_still_skipped_and_named():
    pain = _observation("pain-1", LOINC, "72514-3", value="severe")

    batch = normalize_relevant([pain], VALUESETS)

    assert [s.ref for s in batch.skipped] == ["Observation/pain-1"]
    assert batch.resources == []


def test_an_oid_coded_pain_score_is_kept_and_normalised():
    pain = _observation("pain-2", LOINC_OID, "72514-3", value=7)

    batch = normalize_relevant([pain], VALUESETS)

    assert [r["id"] for r in batch.resources] == ["pain-2"]


@pytest.mark.parametrize("code", ["77565-0", "91146-1", "91147-9", " 72514-3 "])
def test_adl_interference_and_padded_pain_codes_are_kept(code):
    assert is_relevant(_observation("o", LOINC, code), relevant_codes(VALUESETS))


def test_every_egfr_code_of_the_value_set_is_kept():
    codes = relevant_codes(VALUESETS)
    egfr = [e.code for e in VALUESETS.entries("lab-egfr-loinc")]
    assert egfr and all(is_relevant(_observation("o", LOINC, c), codes) for c in egfr)


@pytest.mark.parametrize("raw", [
    _observation("relief", FACET_CDS_CODES, PERCENT_RELIEF_CODE),  # not LOINC
    _observation("linked", LOINC, "8867-4", partOf=[{"reference": "Procedure/mbb-1"}]),  # part of a block
    _observation("nosys", None, "8867-4"),  # no system
    {"resourceType": "Observation", "id": "text", "code": {"text": "pain 7/10"}},  # text only
    {"resourceType": "Observation", "id": "mixed", "code": {"coding": [
        {"system": LOINC, "code": "8867-4"}, {"system": LOINC, "code": "72514-3"}]}},  # one relevant coding
    {"resourceType": "Observation", "id": "odd", "code": {"coding": ["8867-4"]}},  # junk: normalisation judges
    {"resourceType": "Condition", "id": "c", "code": {"coding": [{"code": "I10"}]}},  # no system: kept
    {"resourceType": "Condition", "id": "c2", "code": {"text": "hypertension"}},  # text only: kept
    {"resourceType": "Procedure", "id": "p", "code": {"coding": [{"system": LOINC, "code": 64635}]}},  # odd code
    {"resourceType": "MedicationStatement", "id": "m", "medicationReference": {"reference": "Medication/x"}},
    {"resourceType": "Encounter", "id": "e", "status": "nonsense"},  # a type never dropped
    "not a resource",
])
def test_anything_not_certainly_irrelevant_is_kept(raw):
    assert relevant_only([raw], VALUESETS) == [raw]


def test_a_single_coding_object_of_an_irrelevant_code_is_dropped_and_order_is_kept():
    vital = {"resourceType": "Observation", "id": "bp", "code": {"coding": {"system": LOINC, "code": "85354-9"}}}
    pain, relief = _observation("p", LOINC, "72514-3"), _observation("r", FACET_CDS_CODES, PERCENT_RELIEF_CODE)

    assert relevant_only([pain, vital, relief], VALUESETS) == [pain, relief]


def test_dropping_irrelevant_observations_does_not_change_the_decision():
    """The padded back-pain record validated whole and through the filter: the same determinations."""
    from bench.padding import padded_record  # the back-pain record padded with everyday vitals, labs, problems
    from bench.records import DATE_OF_SERVICE
    from cds_service.evaluation.evaluator import evaluate
    from cds_service.fhir_access.normalize import normalize_resources
    from cds_service.usecases.engine import default_library

    record = padded_record("rel", 300)
    library = default_library()
    full = normalize_resources(record.resources)
    filtered = normalize_relevant(record.resources, library.valuesets)
    assert len(filtered.resources) < len(full.resources)
    orders = normalize_resources(record.orders).resources
    before = evaluate(library, full.resources, orders, today=DATE_OF_SERVICE)
    after = evaluate(library, filtered.resources, orders, today=DATE_OF_SERVICE)
    assert before.determinations and before.determinations == after.determinations


def _every_scenario() -> list[dict[str, Any]]:
    from tests.support.scenarios import all_scenarios, rw_scenarios

    return [*all_scenarios(), *rw_scenarios()]


@pytest.mark.parametrize("s", _every_scenario(), ids=lambda s: s["id"])
def test_every_scenario_decides_and_names_skipped_resources_exactly_as_without_the_filter(s):
    from datetime import date

    from cds_service.evaluation.evaluator import evaluate
    from cds_service.fhir_access.normalize import normalize_resources
    from cds_service.usecases.engine import default_library
    from tests.support.scenarios import draft_orders, record_resources

    library, raws = default_library(), record_resources(s)
    full, filtered = normalize_resources(raws), normalize_relevant(raws, library.valuesets)
    orders = normalize_resources(draft_orders(s)).resources
    today = date(2026, 12, 3)
    before = evaluate(library, full.resources, orders, today=today)
    after = evaluate(library, filtered.resources, orders, today=today)
    assert before.determinations == after.determinations
    assert [x.ref for x in full.skipped] == [x.ref for x in filtered.skipped]
