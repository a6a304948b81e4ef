"""Guards of the relevance prefilter: every code the engine can read is kept in every spelling it accepts, and
a record padded with everyday chart content decides exactly as the record without it."""
from __future__ import annotations

from typing import Any

import pytest

from cds_service.evaluation.clinical import NSAID_NAMES
from cds_service.fhir_access.relevance import (
    CODE_ELEMENT,
    engine_constant_codes,
    is_relevant,
    normalize_relevant,
    relevant_codes,
    relevant_only,
)
from cds_service.policy.conventions import CODE_SYSTEM_OIDS, ICD10CM, LOINC, RXNORM
from cds_service.policy.library import DATA_DIR
from cds_service.policy.loader import load_valuesets

VALUESETS = load_valuesets(DATA_DIR / "valuesets.json")
CODES = relevant_codes(VALUESETS)
OID_OF = {url: oid for oid, url in CODE_SYSTEM_OIDS.items()}


def _coded(resource_type: str, system: str, code: str) -> dict[str, Any]:
    return {"resourceType": resource_type, "id": "x",
            CODE_ELEMENT[resource_type]: {"coding": [{"system": system, "code": code}]}}


def _spellings(system: str, code: str) -> list[tuple[str, str]]:
    """Every way the engine's readers accept this code: URL or OID system, padded, ICD-10 with or without dot."""
    systems = [system, f" {system} "] + ([OID_OF[system]] if system in OID_OF else [])
    codes = [code, f" {code} "]
    if system == ICD10CM:
        undotted = code.replace(".", "")
        codes += [undotted, f"{undotted[:3]}.{undotted[3:]}" if len(undotted) > 3 else undotted, code.lower()]
    return [(s, c) for s in systems for c in codes]


def _every_code_the_engine_reads() -> list[tuple[str, str]]:
    codes = {(e.system, e.code) for name in VALUESETS.names() for e in VALUESETS.entries(name)}
    codes |= {(system, code) for system, named in engine_constant_codes().items() for code in named}
    return sorted(codes)


@pytest.mark.parametrize("resource_type", sorted(CODE_ELEMENT))
def test_every_value_set_and_engine_code_is_kept_in_every_spelling_for_every_dropped_type(resource_type):
    dropped = [(s, c) for system, code in _every_code_the_engine_reads() for s, c in _spellings(system, code)
               if not is_relevant(_coded(resource_type, s, c), CODES)]
    assert dropped == []


def test_a_descendant_of_a_descendants_entry_is_kept():
    parents = [(e.system, e.code) for name in VALUESETS.names() for e in VALUESETS.entries(name) if e.descendants]
    assert parents
    for system, code in parents:
        child = f"{code}9" if system != ICD10CM or "." in code or len(code) > 3 else f"{code}.9"
        assert is_relevant(_coded("Condition", system, child), CODES), (system, child)


@pytest.mark.parametrize(("code", "text", "kept"), [
    ("29046", "lisinopril 10 MG Oral Tablet", False),  # an everyday drug, neither coded nor named as an NSAID
    ("999999", "Ibuprofen 200 MG Oral Tablet", True),  # unknown code, but the engine text-matches the name
    ("999999", "ADVIL liqui-gels", True),
])
def test_a_drug_is_kept_by_its_code_or_by_the_nsaid_words_the_engine_reads(code, text, kept):
    for resource_type in ("MedicationStatement", "MedicationRequest", "MedicationDispense"):
        raw = {"resourceType": resource_type, "id": "m",
               "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": text}]}}
        text_only = {"resourceType": resource_type, "id": "t", "medicationCodeableConcept": {"text": text}}
        assert is_relevant(raw, CODES) is kept
        assert is_relevant(text_only, CODES) is kept


def test_every_nsaid_word_of_the_engine_keeps_a_text_only_drug():
    words = NSAID_NAMES.pattern.split("(", 1)[1].split(")", 1)[0].split("|")
    assert len(words) > 20
    for word in words:
        raw = {"resourceType": "MedicationStatement", "id": "w", "medicationCodeableConcept": {"text": f"{word} 1 tab"}}
        assert is_relevant(raw, CODES), word


def test_everyday_chart_content_is_dropped():
    everyday = [_coded("Observation", LOINC, "8867-4"), _coded("Condition", ICD10CM, "J06.9"),
                _coded("Procedure", "http://www.ama-assn.org/go/cpt", "45378"),
                _coded("MedicationStatement", RXNORM, "29046")]
    assert relevant_only(everyday, VALUESETS) == []


def test_a_malformed_irrelevant_resource_is_never_named_and_a_malformed_relevant_one_is():
    bad_problem = {**_coded("Condition", ICD10CM, "J06.9"), "onsetDateTime": 20190101}
    bad_spinal = {**_coded("Condition", ICD10CM, "M47.816"), "id": "spinal", "onsetDateTime": 20190101}

    batch = normalize_relevant([bad_problem, bad_spinal], VALUESETS)

    assert [s.ref for s in batch.skipped] == ["Condition/spinal"] and batch.resources == []


def test_a_procedure_a_kept_observation_is_part_of_is_kept():
    block = {**_coded("Procedure", "http://www.ama-assn.org/go/cpt", "99213"), "id": "visit-1"}
    score = {**_coded("Observation", LOINC, "8867-4"), "partOf": [{"reference": "https://ehr/fhir/Procedure/visit-1"}]}
    assert relevant_only([block, score], VALUESETS) == [block, score]
    padded = {**score, "partOf": [{"reference": " Procedure/visit-1\n"}]}  # the engine resolves it stripped
    assert relevant_only([block, padded], VALUESETS) == [block, padded]


def test_a_padded_record_decides_exactly_as_the_unpadded_one():
    from bench.padding import BASE_SIZE, padded_record
    from bench.records import DATE_OF_SERVICE
    from cds_service.evaluation.evaluator import evaluate
    from cds_service.fhir_access.normalize import normalize_resources
    from cds_service.usecases.engine import default_library

    library = default_library()
    plain, padded = padded_record("guard", BASE_SIZE), padded_record("guard", 1000)
    assert len(padded.resources) == 1000 and len(plain.resources) < 1000
    orders = normalize_resources(plain.orders).resources
    decisions = [
        evaluate(library, normalize_relevant(r.resources, library.valuesets).resources, orders, today=DATE_OF_SERVICE)
        for r in (plain, padded)
    ]
    assert decisions[0].determinations and decisions[0].determinations == decisions[1].determinations
    kept = relevant_only(padded.resources, library.valuesets)
    assert len(kept) == len(relevant_only(plain.resources, library.valuesets))  # every padding resource dropped
