"""Revision 2019, criterion by criterion, and where it disagrees with 05/26 on the same record."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.support.criteria_tables import DOC, MET, NA, NOT_MET, R2019, base, criterion, determine, result, results
from tests.support.fhir_builders import (
    attestation,
    block_with_relief,
    condition,
    days_ago,
    interference,
    months_ago,
    order,
    pain_score,
    procedure,
    pt_sessions,
)


@pytest.mark.parametrize("span, expected_2019, expected_2026", [(42, MET, MET), (41, NOT_MET, MET), (35, NOT_MET, MET), (27, NOT_MET, NOT_MET)])
def test_therapy_six_weeks_in_2019_four_weeks_in_05_26(span, expected_2019, expected_2026):
    records = base() + pt_sessions(months_ago(6), span, count=3)
    assert result("I.A.3.a", records, order(), **R2019) == expected_2019
    assert result("I.A.1.b.i", records, order()) == expected_2026


def test_chiropractic_counts_in_2019_only():
    records = base() + pt_sessions(months_ago(6), 45, count=3, code="98940")
    assert result("I.A.3.a", records, order(), **R2019) == MET
    assert result("I.A.1.b.i", records, order()) == DOC


@pytest.mark.parametrize("before, after, note_2019, note_2026", [
    (9, 2, NA, NOT_MET),   # 77.8%: enough for 2019 (≥ 75%), not for 05/26 (≥ 80%)
    (4, 1, NA, NOT_MET),   # exactly 75%
    (10, 3, NOT_MET, NOT_MET),  # 70%
])
def test_first_block_relief_75_vs_80(before, after, note_2019, note_2026):
    records = base() + block_with_relief(days_ago(30), before, after)
    assert result("I.A Note", records, order(), **R2019) == note_2019
    assert result("I.A.1 Note", records, order()) == note_2026


def test_2019_second_block_after_a_first_block_with_no_relief_recorded_needs_documentation():
    """2019 I.A Note: a first block with < 75% relief makes a second one not medically necessary, and it is the
    only relief gate of 2019. With no relief recorded nobody knows whether it applies: documentation."""
    first = procedure("64493", days_ago(30), levels=("L4-L5",))
    outcome = criterion("I.A Note", base() + [first], order(), **R2019)
    assert outcome.status.value == DOC
    assert "not recorded" in outcome.reason and "not below" not in outcome.reason


def test_05_26_note_leaves_unrecorded_relief_to_I_A_1_e_which_asks_for_it():
    """05/26 I.A.1.e already needs the first block's relief documented (and can be attested): the Note says the
    relief is not recorded, truly, and does not ask a second time (a row no form could settle)."""
    first = procedure("64493", days_ago(30), levels=("L4-L5",))
    r = results(base() + [first], order())
    assert (r["I.A.1.e"], r["I.A.1 Note"]) == (DOC, NA)
    note = criterion("I.A.1 Note", base() + [first], order())
    assert "not recorded" in note.reason and "not below" not in note.reason


def test_the_note_names_the_relief_that_clears_it():
    outcome = criterion("I.A Note", base() + block_with_relief(days_ago(30), 10, 1), order(), **R2019)
    assert outcome.status.value == NA and "90%" in outcome.reason


@pytest.mark.parametrize("gap, expected", [(14, MET), (13, NOT_MET)])
def test_I_A_1_two_weeks_apart(gap, expected):
    assert result("I.A.1", base() + block_with_relief(days_ago(gap), 9, 1), order(), **R2019) == expected


def test_I_A_1_not_applicable_to_a_first_block():
    assert result("I.A.1", base(), order(), **R2019) == NA


def test_therapeutic_injection_is_not_medically_necessary_in_2019():
    records = base() + block_with_relief(months_ago(3), 10, 1) + block_with_relief(months_ago(2), 10, 1) + [condition("Z96.82", months_ago(20))]
    assert result("V", records, order(intent="therapeutic"), **R2019) == NOT_MET
    assert determine(records, order(intent="therapeutic"), **R2019).decision.value == "not-covered"
    assert result("I.D.3", records, order(intent="therapeutic")) == MET


@pytest.mark.parametrize("code", ["M51.26", "M54.16", "M51.360", "M46.1"])
def test_2019_exclusions_disc_radiculitis_discogenic_sacroiliac(code):
    assert result("I.A.3bis", base() + [condition(code, months_ago(2))], order(), **R2019) == NOT_MET


@pytest.mark.parametrize("code", ["S32.010A", "C41.2", "M46.46"])
def test_2019_other_obvious_causes_beyond_its_examples_fracture_tumour_infection(code):
    """2019 I.A.3bis: imaging suggests "no other obvious cause of the pain (e.g., …)": the examples are not the whole
    list. An active vertebral fracture, spinal tumour or discitis is such a cause, and wins over an attestation."""
    attested = [attestation({"I.A.3bis": True}, revision="2019")]
    outcome = criterion("I.A.3bis", base() + [condition(code, months_ago(2))] + attested, order(), **R2019)
    assert outcome.status.value == NOT_MET and "suggests another cause" in outcome.reason


def test_2019_myelopathy_is_not_an_other_cause_of_pain():
    assert result("I.A.3bis", base() + [condition("M47.16", months_ago(2))], order(), **R2019) == DOC


def test_activity_modification_needs_attestation():
    assert result("I.A.3.c", base(), order(), **R2019) == DOC
    assert result("I.A.3.c", base() + [attestation({"I.A.3.c": True}, revision="2019")], order(), **R2019) == MET


def test_rf_two_blocks_75_and_function_attestation():
    records = base() + block_with_relief(months_ago(3), 4, 1) + block_with_relief(months_ago(2), 9, 2)  # 75%, 77.8%
    assert result("II.A.2", records, order("64635"), **R2019) == DOC
    attested = records + [attestation({"II.A.2": True}, revision="2019")]
    assert result("II.A.2", attested, order("64635"), **R2019) == MET
    assert result("I.B.1.b", records, order("64635")) == NOT_MET


def test_repeat_rf_relief_five_months_meets_2019_but_not_05_26():
    rf = procedure("64635", months_ago(8), levels=("L4-L5",))
    records = base() + [
        rf, pain_score(8, months_ago(8), part_of=rf, at="08:00:00"),
        pain_score(2, months_ago(7), part_of=rf), pain_score(3, months_ago(3), part_of=rf), pain_score(7, months_ago(2), part_of=rf),
        interference(7, months_ago(8) - timedelta(days=2)), interference(3, months_ago(1)),
    ]
    assert result("II.B.2", records, order("64635"), **R2019) == MET
    assert result("I.B.2.b", records, order("64635")) == NOT_MET


def test_thoracic_rf_and_pulsed_rf_clauses():
    assert result("III", base(), order("64633", levels=("T5-T6",)), **R2019) == NOT_MET
    assert result("IV", base(), order("64999", levels=(), text="pulsed radiofrequency, lumbar facet medial branch"), **R2019) == NOT_MET


def test_order_dated_2023_is_decided_by_the_2019_revision():
    d = determine(base(), order(day=date(2023, 3, 1)))
    assert (d.revision_id, d.revision_label) == ("2019", "2019")


def test_2024_06_reconstruction_requires_activity_modification_and_has_no_cyst_exception():
    records = base() + [condition("M71.38", months_ago(4)), condition("M54.16", months_ago(4)), pain_score(7, days_ago(5))]
    r = results(records, order(), revision="2024-06")
    assert r["I.A.1.b.ii"] == DOC            # activity modification (attestation)
    assert "I.A.1.b.i Note" not in r
    assert r["I.A.1.c"] == NOT_MET           # radiculopathy, no synovial-cyst exception yet
    assert results(records, order())["I.A.1.c"] != NOT_MET
