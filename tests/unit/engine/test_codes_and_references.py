"""Contract §4 "Codes": OID code systems, ICD-10-CM with or without the dot, and references in the record.

Each scenario is decided with its codes as URLs and again with one code system sent as its HL7 OID; the
decision must not change. The last column is what the criterion says when the coded fact is absent, so
a scenario whose OID fact were silently ignored would fail.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cds_service.policy.conventions import CODE_SYSTEM_OIDS, CPT, ICD10CM, LOINC, RXNORM, SNOMED
from tests.support.criteria_tables import DOC, MET, NOT_MET, base, result
from tests.support.fhir_builders import (
    block_with_relief,
    condition,
    months_ago,
    nsaid_statement,
    order,
    subject,
)

OID = {url: oid for oid, url in CODE_SYSTEM_OIDS.items()}


def as_oid(value: Any, systems: frozenset[str]) -> Any:
    """A deep copy with every coding of `systems` given by its OID instead of its URL."""
    if isinstance(value, dict):
        out = {k: as_oid(v, systems) for k, v in value.items()}
        if out.get("system") in systems and "code" in out:
            out["system"] = OID[out["system"]]
        return out
    if isinstance(value, list):
        return [as_oid(v, systems) for v in value]
    return value


def egfr(value: float, day) -> dict:
    return {"resourceType": "Observation", "id": f"egfr-{value}", "status": "final", "subject": subject(),
            "code": {"coding": [{"system": LOINC, "code": "62238-1"}]},
            "effectiveDateTime": f"{day.isoformat()}T08:00:00Z",
            "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}", "system": "http://unitsofmeasure.org",
                              "code": "mL/min/{1.73_m2}"}}


def ibuprofen_without_display(days: int) -> dict:
    stmt = nsaid_statement(months_ago(6), months_ago(6) + timedelta(days=days - 1))
    stmt["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "5640"}]}  # code only, no text
    return stmt


def two_blocks():
    return block_with_relief(months_ago(3), 10, 1) + block_with_relief(months_ago(2), 10, 2)


# name, system sent as OID, extra records, order, criterion, expected, expected without the coded fact
SCENARIOS = [
    ("icd10-active-fracture-excludes", ICD10CM, lambda: [condition("S32.010A", months_ago(2))], order,
     "I.A.1.c", NOT_MET, None),
    ("icd10-fracture-without-the-dot", ICD10CM, lambda: [condition("S32010A", months_ago(2))], order,
     "I.A.1.c", NOT_MET, None),
    ("cpt-two-prior-blocks-make-a-third-diagnostic-block", CPT, two_blocks, lambda: order(intent="diagnostic"),
     "I.A.1", NOT_MET, MET),
    ("cpt-two-positive-blocks-qualify-rf", CPT, two_blocks, lambda: order("64635"), "I.B.1.b", MET, NOT_MET),
    ("loinc-pain-scores-partof-the-blocks", LOINC, two_blocks, lambda: order("64635"), "I.B.1.b", MET, DOC),
    ("loinc-egfr-below-30-contraindicates-nsaids", LOINC, lambda: [egfr(25, months_ago(1))], order,
     "I.A.1.b.ii", MET, DOC),
    ("snomed-diagnostic-intent-of-the-order", SNOMED, two_blocks, lambda: order(intent="diagnostic"),
     "I.A.1", NOT_MET, DOC),
    ("rxnorm-ibuprofen-30-days", RXNORM, lambda: [ibuprofen_without_display(30)], order, "I.A.1.b.ii", MET, DOC),
]


@pytest.mark.parametrize("name, system, extra, make_order, criterion, expected, if_ignored",
                         SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_a_code_system_sent_as_its_oid_decides_like_its_url(name, system, extra, make_order, criterion, expected,
                                                            if_ignored):
    records, orders = base() + extra(), [make_order()]
    oid_records, oid_orders = as_oid(records, frozenset({system})), as_oid(orders, frozenset({system}))
    assert any(c.get("system") == OID[system] for c in _all_codings(oid_records + oid_orders))  # really sent as OID

    assert result(criterion, records, orders) == expected
    assert result(criterion, oid_records, oid_orders) == expected
    if if_ignored is not None:  # the coded fact decides: without it the criterion says something else
        assert result(criterion, base(), orders) != expected


def test_every_code_system_as_oid_at_once_decides_like_urls():
    records = base() + two_blocks() + [ibuprofen_without_display(30), condition("S32.010A", months_ago(2))]
    everything = frozenset(CODE_SYSTEM_OIDS.values())
    for criterion, make_order, expected in [("I.B.1.b", lambda: order("64635"), MET),
                                            ("I.A.1.c", order, NOT_MET), ("I.A.1.b.ii", order, MET)]:
        assert result(criterion, as_oid(records, everything), as_oid([make_order()], everything)) == expected


# ----------------------------------------------------------------- references within the record

def medication(mid: str, code: str = "5640") -> dict:
    return {"resourceType": "Medication", "id": mid, "code": {"coding": [{"system": RXNORM, "code": code}]}}


def by_reference(reference: str, contained: list | None = None) -> dict:
    stmt = ibuprofen_without_display(30)
    del stmt["medicationCodeableConcept"]
    stmt["medicationReference"] = {"reference": reference}
    if contained:
        stmt["contained"] = contained
    return stmt


@pytest.mark.parametrize("records, expected", [
    pytest.param(lambda: [by_reference("#med1", [medication("med1")])], MET, id="contained-medication"),
    pytest.param(lambda: [by_reference("#med1", [as_oid(medication("med1"), frozenset({RXNORM}))])], MET,
                 id="contained-medication-oid-coded"),
    pytest.param(lambda: [by_reference("Medication/m1"), medication("m1")], MET, id="relative-reference"),
    pytest.param(lambda: [by_reference("https://ehr.example.org/fhir/Medication/m1/_history/2"), medication("m1")],
                 MET, id="absolute-versioned-reference"),
    pytest.param(lambda: [by_reference("#other", [medication("med1")])], DOC, id="contained-id-does-not-match"),
    pytest.param(lambda: [by_reference("#med1", [medication("med1", code="161")])], DOC,
                 id="contained-acetaminophen-is-not-an-nsaid"),
])
def test_a_referenced_medication_reads_like_an_inline_code(records, expected):
    assert result("I.A.1.b.ii", base() + records(), order()) == expected


def test_pain_scores_partof_an_absolute_reference_to_the_block_are_found():
    records = two_blocks()
    for r in records:
        for ref in r.get("partOf", []):
            ref["reference"] = f"https://ehr.example.org/fhir/{ref['reference']}"
    assert result("I.B.1.b", base() + records, order("64635")) == MET


def _all_codings(value: Any):
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for v in value.values():
            yield from _all_codings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_codings(v)

