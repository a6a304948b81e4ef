"""Revision 05/26, criterion by criterion: met, not met, needs documentation, and the edges of each threshold."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds_service.evaluation.evaluator import evaluate
from cds_service.usecases.engine import default_library
from tests.support.criteria_tables import DOC, MET, NA, NOT_MET, base, criterion, determine, result, results
from tests.support.fhir_builders import (
    DOS,
    attestation,
    block_with_relief,
    condition,
    days_ago,
    documented_first_block,
    interference,
    months_ago,
    nsaid_request,
    nsaid_statement,
    order,
    pain_score,
    patient,
    percent_relief,
    procedure,
    pt_sessions,
)


def case(name, records, orders, expected):
    return pytest.param(records, orders, expected, id=name)


# ----------------------------------------------------------------- I: physician, one procedure per visit
@pytest.mark.parametrize("records, orders, expected", [
    case("ordered-by-practitioner", base, lambda: [order()], MET),
    case("epidural-in-same-session", base, lambda: [order(), order("62323", levels=())], NOT_MET),
    case("lumbar-and-rf-in-same-session", base, lambda: [order(), order("64635")], NOT_MET),
    case("mri-in-same-session-is-not-a-procedure", base, lambda: [order(), order("72148", levels=())], MET),
    case("si-joint-injection-done-same-day", lambda: base() + [procedure("27096", DOS)], lambda: [order()], NOT_MET),
    case("no-requester", base, lambda: [{**order(), "requester": None}], DOC),
    case("requester-padded", base, lambda: [{**order(), "requester": {"reference": " Practitioner/dr-test\n"}}], MET),
    case("requester-absolute-versioned", base,
         lambda: [{**order(), "requester": {"reference": "https://ehr.example/fhir/Practitioner/dr-test/_history/4"}}],
         MET),
])
def test_I_preamble(records, orders, expected):
    first = evaluate(default_library(), records(), orders(), today=DOS).determinations[0]
    assert {c.criterion_id: c.status.value for c in first.criteria}["I"] == expected


@pytest.mark.parametrize("reference", ["Practitioner/dr-test", " Practitioner/dr-test ",
                                       "https://ehr.example/fhir/Practitioner/dr-test/_history/4"])
def test_I_cites_the_ordering_practitioner_by_type_and_id(reference):
    """References resolve as `Type/id` whatever form the EHR wrote them in (contract §4 "Codes")."""
    first = evaluate(default_library(), base(), [{**order(), "requester": {"reference": reference}}],
                     today=DOS).determinations[0]
    preamble = next(c for c in first.criteria if c.criterion_id == "I")
    assert [e.reference for e in preamble.evidence] == ["Practitioner/dr-test"]


# ----------------------------------------------------------------- guidance / Table 2
@pytest.mark.parametrize("code, guidance, table2", [
    ("64493", MET, NA), ("0216T", NOT_MET, NOT_MET), ("0213T", NOT_MET, NOT_MET),
])
def test_I_A_guidance_and_table_2(code, guidance, table2):
    r = results(base() + [condition("M47.812", months_ago(8))], order(code, levels=("C5-C6",) if code == "0213T" else ("L4-L5",)))
    assert (r["I.A"], r["Table 2"]) == (guidance, table2)


def test_table_2_add_on_ultrasound_code_is_listed_in_05_26_but_not_in_05_25():
    orders = [order("64493", levels=()), order("0217T", levels=())]
    d = evaluate(default_library(), base(), orders, today=DOS).determinations
    # 0217T is an add-on of the ultrasound family: it stays its own procedure (orphan add-on)
    ultrasound = next(x for x in d if "0217T" in x.codes)
    assert {c.criterion_id: c.status.value for c in ultrasound.criteria}["Table 2"] == NOT_MET
    ultrasound_0525 = evaluate(default_library(), base(), orders, today=DOS, revision_id="2025-05").determinations
    one = next(x for x in ultrasound_0525 if "0217T" in x.codes)
    assert {c.criterion_id: c.status.value for c in one.criteria}["Table 2"] == NA


# ----------------------------------------------------------------- I.A.1: up to two blocks, region
@pytest.mark.parametrize("records, order_, expected", [
    case("first-block", base, lambda: order(), MET),
    case("second-block", lambda: base() + block_with_relief(days_ago(30), 8, 1), lambda: order(), MET),
    case("third-block", lambda: base() + block_with_relief(days_ago(60), 8, 1) + block_with_relief(days_ago(30), 8, 1), lambda: order(intent="diagnostic"), NOT_MET),
    case("third-block-intent-not-stated", lambda: base() + block_with_relief(days_ago(60), 8, 1) + block_with_relief(days_ago(30), 8, 1), lambda: order(), DOC),
    case("count-restarts-after-rf", lambda: base() + block_with_relief(months_ago(20), 8, 1) + block_with_relief(months_ago(19), 8, 1) + [procedure("64635", months_ago(18))], lambda: order(intent="diagnostic"), MET),
    case("cervical-block-counts-separately", lambda: base() + block_with_relief(days_ago(60), 8, 1, code="64490", levels=("C5-C6",)) + block_with_relief(days_ago(30), 8, 1, code="64490", levels=("C5-C6",)), lambda: order(intent="diagnostic"), MET),
    case("thoracic-not-covered", base, lambda: order("64490", levels=("T4-T5",)), NOT_MET),
    case("cervical-or-thoracic-unstated", base, lambda: order("64490", levels=()), DOC),
])
def test_I_A_1_up_to_two_diagnostic_blocks(records, order_, expected):
    assert result("I.A.1", records(), order_()) == expected


# ----------------------------------------------------------------- I.A.1.a: pain ≥ 3 months + ADLs
@pytest.mark.parametrize("onset_months, adl, attested, expected", [
    (8, True, False, MET),
    (3, True, False, MET),         # exactly 3 calendar months: inclusive
    (2, True, False, NOT_MET),
    (8, False, False, DOC),        # ADL interference not recorded
    (8, False, True, MET),         # attestation settles what the record leaves open
    (2, False, True, NOT_MET),     # evidence of not met wins over the attestation
])
def test_I_A_1_a_pain_duration(onset_months, adl, attested, expected):
    records = [patient(), condition("M47.816", months_ago(onset_months))]
    if adl:
        records.append(interference(5, days_ago(10)))
    if attested:
        records.append(attestation({"I.A.1.a": True}))
    assert result("I.A.1.a", records, order()) == expected


def test_pain_one_day_short_of_three_months_is_not_met():
    records = [patient(), condition("M47.816", months_ago(3) + timedelta(days=1)), interference(5, days_ago(10))]
    assert result("I.A.1.a", records, order()) == NOT_MET


@pytest.mark.parametrize("order_code, levels, recent, old, expected", [
    # I.A.1.a: "back or neck pain … has lasted for ≥ three months": the pain of the region to be treated
    ("64490", ("C5-C6",), "M54.2", "M54.50", NOT_MET),    # neck pain 6 weeks old; low back pain for 14 months
    ("64493", ("L4-L5",), "M54.2", "M54.50", MET),        # the lumbar pain is the long one
    ("64493", ("L4-L5",), "M54.50", "M47.812", NOT_MET),  # low back pain 6 weeks old; cervical spondylosis older
    ("64493", ("L4-L5",), "M54.50", "M54.9", MET),        # dorsalgia names no region: it may be this pain
    ("64490", ("C5-C6",), "M54.2", "M47.817", NOT_MET),   # lumbosacral spondylosis is not neck pain
    ("64490", ("C5-C6",), "M54.2", "M47.815", NOT_MET),   # nor is thoracolumbar
    ("64493", ("L4-L5",), "M54.50", "M47.813", NOT_MET),  # cervicothoracic is not low back pain
    ("64493", ("L4-L5",), "M54.2", "M47.817", MET),       # lumbosacral pain is this order's pain
    ("64490", ("C5-C6",), "M54.50", "M47.817", DOC),      # only lumbar pain for a neck block: check the code
    ("64493", ("L4-L5",), "M54.2", "M47.813", DOC),       # only neck/cervicothoracic pain for a lumbar block
])
def test_pain_duration_reads_the_pain_of_the_region_to_be_treated(order_code, levels, recent, old, expected):
    records = [patient(), condition(recent, days_ago(42)), condition(old, months_ago(14)), interference(6, days_ago(7))]
    outcome = criterion("I.A.1.a", records, order(order_code, levels=levels))
    assert outcome.status.value == expected, outcome.reason
    if expected == NOT_MET:
        assert "less than 3 months" in outcome.reason
    if expected == DOC:
        assert "check the code" in outcome.reason


def test_a_compound_region_alone_for_another_region_is_a_region_mismatch():
    records = [patient(), condition("M47.817", months_ago(14)), interference(6, days_ago(7))]
    outcome = criterion("I.A.1.a", records, order("64490", levels=("C5-C6",)))
    assert outcome.status.value == DOC and "check the code" in outcome.reason, outcome.reason


@pytest.mark.parametrize("scores, words", [
    ((), "interference with daily activities is not recorded"),
    (((6, 20),), "in the 12 months before the procedure (the last score is from"),  # an old score only
    (((0, 1),), "shows no interference"),                                           # recorded as none
])
def test_adl_interference_wording_is_true_of_the_record(scores, words):
    records = base() + [interference(v, months_ago(m)) for v, m in scores]
    outcome = criterion("I.A.1.a", records, order())
    assert outcome.status.value == DOC and words in outcome.reason, outcome.reason


def test_no_dated_pain_diagnosis_needs_documentation():
    assert result("I.A.1.a", [patient(), condition("M47.816", None)], order()) == DOC


# ----------------------------------------------------------------- I.A.1.b.i: PT ≥ 28 days in the past year
@pytest.mark.parametrize("span, first_months_ago, expected", [
    (28, 5, MET), (27, 5, NOT_MET), (60, 5, MET), (35, 14, DOC),  # 14 months ago: outside the look-back
])
def test_I_A_1_b_i_physical_therapy_span(span, first_months_ago, expected):
    records = base() + pt_sessions(months_ago(first_months_ago), span, count=3)
    assert result("I.A.1.b.i", records, order()) == expected


def test_pt_not_tolerated_counts():
    stopped = procedure("97110", days_ago(90), status="stopped")
    stopped["statusReason"] = {"text": "severe pain during exercise"}
    assert result("I.A.1.b.i", base() + [stopped], order()) == MET


def test_synovial_cyst_exception_replaces_pt():
    records = base() + [condition("M71.38", months_ago(4)), condition("M54.16", months_ago(4)), pain_score(7, days_ago(5))]
    r = results(records, order())
    assert (r["I.A.1.b.i"], r["I.A.1.b.i Note"]) == (MET, MET)
    assert r["I.A.1.c"] != NOT_MET  # radiculopathy caused by the cyst is allowed


def test_synovial_cyst_without_pain_score_needs_documentation():
    r = results(base() + [condition("M71.38", months_ago(4)), condition("M54.16", months_ago(4))], order())
    assert r["I.A.1.b.i Note"] == DOC


def test_no_cyst_note_not_applicable():
    assert result("I.A.1.b.i Note", base(), order()) == NA


# ----------------------------------------------------------------- I.A.1.b.ii: NSAIDs ≥ 21 days
@pytest.mark.parametrize("days, expected", [(21, MET), (20, NOT_MET), (90, MET)])
def test_I_A_1_b_ii_nsaid_days(days, expected):
    start = months_ago(6)
    records = base() + [nsaid_statement(start, start + timedelta(days=days - 1))]
    assert result("I.A.1.b.ii", records, order()) == expected


def test_same_course_recorded_twice_counts_once():
    start = months_ago(6)
    records = base() + [nsaid_statement(start, start + timedelta(days=14)), nsaid_request(start, 15)]
    assert result("I.A.1.b.ii", records, order()) == NOT_MET  # 15 days, not 30


def test_two_separate_courses_add_up():
    a, b = months_ago(8), months_ago(4)
    records = base() + [nsaid_statement(a, a + timedelta(days=10)), nsaid_request(b, 11)]
    assert result("I.A.1.b.ii", records, order()) == MET


def test_nsaid_course_outside_the_look_back_does_not_count():
    start = months_ago(14)
    assert result("I.A.1.b.ii", base() + [nsaid_statement(start, start + timedelta(days=40))], order()) == DOC


def test_course_straddling_the_look_back_is_clipped():
    start = months_ago(12) - timedelta(days=10)
    records = base() + [nsaid_statement(start, start + timedelta(days=29))]  # 30 days, 20 of them inside
    assert result("I.A.1.b.ii", records, order()) == NOT_MET


@pytest.mark.parametrize("concept, expected", [
    ({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "198014"}]}, MET),   # naproxen product
    ({"text": "Naproxen 500mg tablets"}, MET),                                                            # display text
    ({"coding": [{"system": "http://www.whocc.no/atc", "code": "M01AE01"}]}, MET),                      # ATC class
    ({"text": "Aspirin 81 MG oral tablet"}, DOC),                                                        # low-dose aspirin
    ({"text": "Diclofenac 1% topical gel"}, DOC),                                                        # topical
    ({"text": "Acetaminophen 500 MG"}, DOC),
])
def test_nsaid_recognition(concept, expected):
    stmt = nsaid_statement(months_ago(6), months_ago(6) + timedelta(days=30))
    stmt["medicationCodeableConcept"] = concept
    assert result("I.A.1.b.ii", base() + [stmt], order()) == expected


@pytest.mark.parametrize("contra", [
    lambda: {"resourceType": "AllergyIntolerance", "id": "al-1", "patient": {"reference": "Patient/pt-test"},
             "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640", "display": "ibuprofen"}]}},
    lambda: condition("N18.4", months_ago(24)),
    lambda: condition("K25.4", months_ago(24)),
    lambda: condition("I50.22", months_ago(24)),
])
def test_nsaid_contraindication_meets_the_criterion(contra):
    assert result("I.A.1.b.ii", base() + [contra()], order()) == MET


# ----------------------------------------------------------------- I.A.1.b: failed conservative therapy
def test_failed_conservative_met_by_pain_after_therapy():
    records = base() + pt_sessions(months_ago(5), 35) + [pain_score(6, days_ago(10))]
    assert result("I.A.1.b", records, order()) == MET


def test_failed_conservative_needs_documentation_without_later_pain_score():
    records = base() + pt_sessions(months_ago(5), 35) + [pain_score(6, months_ago(6))]
    assert result("I.A.1.b", records, order()) == DOC


# ----------------------------------------------------------------- I.A.1.c: exclusions
@pytest.mark.parametrize("code", ["S32.010A", "C41.2", "M46.26", "M54.16", "M47.16", "G95.9"])
def test_I_A_1_c_active_exclusion_is_not_met(code):
    assert result("I.A.1.c", base() + [condition(code, months_ago(2))], order()) == NOT_MET


def test_resolved_exclusion_does_not_count():
    records = base() + [condition("S32.010A", months_ago(30), status="resolved"), attestation({"I.A.1.c": True})]
    assert result("I.A.1.c", records, order()) == MET


def test_exclusion_beats_attestation():
    records = base() + [condition("C41.2", months_ago(2)), attestation({"I.A.1.c": True})]
    assert result("I.A.1.c", records, order()) == NOT_MET


def test_attested_false_is_not_met():
    assert result("I.A.1.c", base() + [attestation({"I.A.1.c": False})], order()) == NOT_MET


def test_attestation_of_another_revision_or_too_old_is_ignored():
    assert result("I.A.1.c", base() + [attestation({"I.A.1.c": True}, revision="2019")], order()) == DOC
    assert result("I.A.1.c", base() + [attestation({"I.A.1.c": True}, authored=months_ago(13))], order()) == DOC


# ----------------------------------------------------------------- levels
@pytest.mark.parametrize("orders, expected", [
    (lambda: [order(levels=("L3-L4", "L4-L5", "L5-S1"))], MET),
    (lambda: [order(levels=("L2-L3", "L3-L4", "L4-L5", "L5-S1"))], NOT_MET),
    (lambda: [order(levels=("L4-L5 left", "L4-L5 right"))], MET),          # bilateral at one level = one level
    (lambda: [order(levels=()), order("64494", levels=())], MET),            # 1 + 1 by codes
    (lambda: [order(levels=()), order("64494", levels=()), order("64495", levels=())], DOC),  # "3 or more"
])
def test_I_A_1_d_levels(orders, expected):
    assert result("I.A.1.d", base(), orders()) == expected


@pytest.mark.parametrize("quantity, expected", [(2, MET), (3, NOT_MET)])
def test_rf_add_on_quantity_counts_joints(quantity, expected):
    records = base() + block_with_relief(months_ago(3), 8, 1) + block_with_relief(months_ago(2), 8, 1)
    orders = [order("64635", levels=()), order("64636", levels=(), quantity=quantity)]
    assert result("I.B.1.c", records, orders) == expected


# ----------------------------------------------------------------- second block, note
@pytest.mark.parametrize("gap_days, before, after, expected", [
    (14, 10, 2, MET),        # exactly two weeks, 80% relief
    (13, 10, 2, NOT_MET),    # one day short
    (30, 10, 3, NOT_MET),    # 70% relief
    (30, 9, 2, NOT_MET),     # 77.8% — compared unrounded
])
def test_I_A_1_e_second_block(gap_days, before, after, expected):
    records = base() + block_with_relief(days_ago(gap_days), before, after)
    assert result("I.A.1.e", records, order()) == expected


def test_second_block_at_other_levels_is_not_met():
    records = base() + block_with_relief(days_ago(30), 10, 1, levels=("L3-L4",))
    assert result("I.A.1.e", records, order(levels=("L5-S1",))) == NOT_MET


def test_second_block_at_some_of_the_first_blocks_levels_confirms_them():
    """ "At the same level(s)": repeating one of two blocked levels confirms that level; a new level does not."""
    records = base() + block_with_relief(days_ago(30), 10, 1, levels=("L4-L5", "L5-S1"))
    assert result("I.A.1.e", records, order(levels=("L4-L5",))) == MET
    assert result("I.A.1.e", records, order(levels=("L4-L5", "L5-S1"))) == MET
    assert result("I.A.1.e", records, [order(levels=("L4-L5",)), order("64494", levels=("L3-L4",))]) == NOT_MET


def test_second_block_relief_not_recorded_needs_documentation():
    records = base() + [procedure("64493", days_ago(30), levels=("L4-L5",))]
    assert result("I.A.1.e", records, order()) == DOC


@pytest.mark.parametrize("first, second, expected", [
    # the same joint may be named by its nerves: the levels are not comparable, so not "not blocked"
    ("L4-L5 facet joint", "L3 and L4 medial branches", DOC),
    ("L3 and L4 medial branches", "L4-L5 facet joint", DOC),
    ("L3 and L4 medial branches", "L3 and L4 medial branches", MET),
    ("L4-L5 facet joint", "L5-S1 facet joint", NOT_MET),  # joints both ways: surely another level
    (("L4 medial branch", "L5 medial branch"), "L4 and L5 medial branches", MET),  # the same nerves, spelt apart
    ("L4 and L5 medial branches", "L5 medial branch", MET),  # some of the nerves already blocked
    ("L4 and L5 medial branches", "L1 and L2 medial branches", NOT_MET),  # nerves both ways: other nerves
])
def test_I_A_1_e_levels_named_by_joint_or_by_nerves(first, second, expected):
    first_sites = first if isinstance(first, tuple) else (first,)
    records = base() + block_with_relief(days_ago(30), 10, 1, levels=first_sites)
    outcome = criterion("I.A.1.e", records, order(levels=(second,)))
    assert outcome.status.value == expected, outcome.reason
    if expected == DOC:
        assert "not blocked" not in outcome.reason


def test_recorded_percent_relief_is_accepted_and_wins():
    blk = procedure("64493", days_ago(30), levels=("L4-L5",))
    records = base() + [blk, percent_relief(85, blk), pain_score(10, days_ago(30), part_of=blk, at="08:00:00"),
                        pain_score(5, days_ago(30), part_of=blk, at="11:00:00")]
    assert result("I.A.1.e", records, order()) == MET


@pytest.mark.parametrize("before, after, expected", [(10, 3, NOT_MET), (10, 2, NA)])
def test_I_A_1_note_first_block_below_80(before, after, expected):
    assert result("I.A.1 Note", base() + block_with_relief(days_ago(30), before, after), order()) == expected


@pytest.mark.parametrize("percent, shown", [(79.6, "79.6%"), (79.96, "79.9%"), (79.0, "79%")])
def test_relief_just_under_the_threshold_is_not_rounded_up_to_it_in_the_reason(percent, shown):
    blk = procedure("64493", days_ago(30), levels=("L4-L5",))
    outcome = criterion("I.A.1 Note", base() + [blk, percent_relief(percent, blk)], order())
    assert outcome.status.value == NOT_MET and f"{shown} relief (< 80%)" in outcome.reason, outcome.reason


def test_first_block_note_not_applicable():
    assert result("I.A.1 Note", base(), order()) == NA


# ----------------------------------------------------------------- I.A.1.f RF being considered
def test_rf_considered_by_attestation_or_rf_order():
    assert result("I.A.1.f", base(), order()) == DOC
    assert result("I.A.1.f", base() + [attestation({"I.A.1.f": True})], order()) == MET
    rf_plan = order("64635", oid="sr-rf-plan")
    rf_plan["status"] = "active"
    assert result("I.A.1.f", base() + [rf_plan], order()) == MET


# ----------------------------------------------------------------- RF initial / repeat
def two_blocks(relief_a=(10, 1), relief_b=(10, 2)):
    return block_with_relief(months_ago(3), *relief_a) + block_with_relief(months_ago(2), *relief_b)


@pytest.mark.parametrize("records, expected", [
    (lambda: base() + two_blocks(), MET),
    (lambda: base() + two_blocks(relief_b=(10, 3)), NOT_MET),            # 70%
    (lambda: base() + block_with_relief(months_ago(2), 10, 1), NOT_MET),  # one block only
    (lambda: base() + two_blocks() [:4] + [procedure("64493", months_ago(2), levels=("L4-L5",))], DOC),  # relief not recorded
])
def test_I_B_1_b_two_positive_blocks(records, expected):
    assert result("I.B.1.b", records(), order("64635")) == expected


def test_initial_rf_branch_applies_and_repeat_branch_does_not():
    r = results(base() + two_blocks(), order("64635"))
    assert r["I.B"] == MET and r["I.B.1.a"] == MET and r["I.B.2.a"] == NA and r["I.A.1"] == NA


def rf_history(months_since: int, scores: list[tuple[int, int]], baseline=8, interference_scores=(7, 3)):
    rf = procedure("64635", months_ago(months_since), levels=("L4-L5",))
    out = [rf, pain_score(baseline, months_ago(months_since), part_of=rf, at="08:00:00")]
    for months_after, value in scores:
        out.append(pain_score(value, months_ago(months_since - months_after), part_of=rf))
    out.append(interference(interference_scores[0], months_ago(months_since) - timedelta(days=3)))
    out.append(interference(interference_scores[1], months_ago(1)))
    return out


@pytest.mark.parametrize("months_since, expected", [(7, MET), (6, MET), (5, NOT_MET)])
def test_I_B_2_a_repeat_rf_interval(months_since, expected):
    assert result("I.B.2.a", base() + rf_history(months_since, [(1, 2)]), order("64635")) == expected


@pytest.mark.parametrize("scores, expected", [
    ([(1, 2), (3, 3), (6, 4)], MET),         # 50% at 6 months: inclusive
    ([(1, 2), (3, 3), (5, 4)], DOC),         # follow-up ends at 5 months
    ([(1, 2), (4, 6)], NOT_MET),             # relief fell to 25% at 4 months
])
def test_I_B_2_b_sustained_relief_after_rf(scores, expected):
    assert result("I.B.2.b", base() + rf_history(8, scores), order("64635")) == expected


def test_sustained_relief_with_only_the_before_score_says_the_after_scores_are_missing():
    outcome = criterion("I.B.2.b", base() + rf_history(8, []), order("64635"))
    assert outcome.status.value == DOC
    assert "no pain score after the procedure" in outcome.reason and "before and after" not in outcome.reason


def test_functional_improvement_after_rf_is_read_on_one_scale():
    # BPI interference 7 before the RF, then only a PEG score after it: not a measured improvement
    records = base() + rf_history(8, [(1, 2), (6, 3)], interference_scores=(7, 7))
    records = [r for r in records if not (r.get("code", {}).get("coding", [{}])[0].get("code") == "77565-0"
                                          and r["effectiveDateTime"].startswith(str(months_ago(1))))]
    records.append(interference(3, months_ago(1), "91147-9"))
    assert result("I.B.2.b", records, order("64635")) == DOC


def test_a_zero_pain_score_before_the_procedure_is_no_baseline_for_relief():
    outcome = criterion("I.B.2.b", base() + rf_history(8, [(1, 2), (6, 3)], baseline=0), order("64635"))
    assert outcome.status.value == DOC and "is 0" in outcome.reason, outcome.reason


def test_sustained_relief_without_functional_evidence_needs_documentation():
    records = base() + rf_history(8, [(1, 2), (6, 3)], interference_scores=(5, 5))
    assert result("I.B.2.b", records, order("64635")) == DOC


# ----------------------------------------------------------------- not medically necessary categories
@pytest.mark.parametrize("orders, criterion, expected", [
    (lambda: order("64490", levels=("T7-T8",)), "I.C", NOT_MET),
    (lambda: order("64490", levels=(), body_site_codes=("122495006",)), "I.C", NOT_MET),
    (lambda: order("64490", levels=("C5-C6",)), "I.C", NA),
    (lambda: order("64490", levels=()), "I.C", DOC),
    (lambda: order("64633", levels=("T5-T6",)), "I.E", NOT_MET),
    (lambda: order("64633", levels=("C4-C5",)), "I.E", NA),
    (lambda: order("64999", levels=(), text="Pulsed radiofrequency of lumbar medial branch nerves"), "I.F", NOT_MET),
    (lambda: order("64635", text="pulsed RF lumbar facet"), "I.F", NOT_MET),
    (lambda: order("64635"), "I.F", NA),
])
def test_not_medically_necessary_clauses(orders, criterion, expected):
    assert result(criterion, base(), orders()) == expected


def test_thoracic_only_diagnoses_make_a_cervical_thoracic_order_thoracic():
    records = [patient(), condition("M47.814", months_ago(8))]
    assert result("I.C", records, order("64490", levels=())) == NOT_MET


def test_64999_without_pulsed_facet_text_is_out_of_scope():
    ev = evaluate(default_library(), base(), [order("64999", levels=(), text="Unlisted nerve procedure")], today=DOS)
    assert ev.determinations == () and len(ev.out_of_scope_order_ids) == 1


# ----------------------------------------------------------------- therapeutic
def test_therapeutic_injection_with_two_blocks_and_neurostimulator_is_covered_when_attested():
    records = base() + two_blocks() + [condition("Z96.82", months_ago(20))]
    d = determine(records, order(intent="therapeutic"))
    r = {c.criterion_id: c.status.value for c in d.criteria}
    assert d.kind == "therapeutic-injection"
    assert (r["I.D"], r["I.D.1"], r["I.D.2"], r["I.D.3"], r["I.D.4"]) == (MET, MET, NA, MET, MET)
    assert r["I.A.1"] == NA and d.decision.value == "covered"


def test_therapeutic_without_rf_contraindication_needs_documentation():
    assert result("I.D.3", base() + two_blocks(), order(intent="therapeutic")) == DOC


def test_active_device_resource_counts_as_implanted_device():
    device = {"resourceType": "Device", "id": "dev-1", "status": "active", "patient": {"reference": "Patient/pt-test"},
              "type": {"text": "Spinal cord stimulator"}}
    assert result("I.D.3", base() + two_blocks() + [device], order(intent="therapeutic")) == MET


def _repeat_therapeutic(months: int, pain: tuple[tuple[float, int], ...], adl: tuple[tuple[float, int], ...] = (),
                        adl_code: str | None = None) -> list[dict]:
    """Two old positive blocks, a therapeutic injection `months` ago with a pain score of 8 just before it, pain
    scores (value, months ago) linked to it, and ADL interference scores (value, months ago; baseline first)."""
    prior = procedure("64493", months_ago(months), intent="therapeutic", levels=("L4-L5",))
    blocks = block_with_relief(months_ago(14), 10, 1) + block_with_relief(months_ago(13), 10, 2)
    scores = [pain_score(v, months_ago(m), part_of=prior) for v, m in pain]
    function = [interference(v, months_ago(m), **({"code": adl_code} if adl_code else {})) for v, m in adl]
    return base() + blocks + [prior, pain_score(8, months_ago(months), part_of=prior, at="08:00:00")] + scores + function


def test_repeat_therapeutic_relief_two_months_and_no_adl_scores_needs_documentation():
    """I.D.2: ≥ 50% relief for three months OR ≥ 50% consistent ADL improvement on the same scale. Relief fell
    within three months; the other branch is not recorded, so documentation can still settle it."""
    records = _repeat_therapeutic(4, pain=((3, 3), (7, 2)))
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == DOC
    assert "relief fell to 12.5% on" in outcome.reason and "same scale" in outcome.reason


def test_repeat_therapeutic_relief_fell_but_adl_improved_consistently_is_met():
    # interference 8 before the prior injection, then 3, 3, 4 after it: each ≥ 50% better on the same scale
    records = _repeat_therapeutic(4, pain=((3, 3), (5, 2)), adl=((8, 5), (3, 3), (3, 2), (4, 1)))
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == MET, outcome.reason
    assert "interference 8 → 4" in outcome.reason


def test_repeat_therapeutic_adl_improvement_not_consistent_and_relief_fell_is_not_met():
    records = _repeat_therapeutic(4, pain=((3, 3), (7, 2)), adl=((8, 5), (3, 3), (6, 1)))  # 6 of 8: 25%
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == NOT_MET, outcome.reason
    assert "relief fell to 12.5%" in outcome.reason and "interference 8 → 6" in outcome.reason


def test_repeat_therapeutic_adl_scores_on_another_scale_are_not_compared():
    # baseline on BPI interference, follow-up on the PEG mean: not "the same scale"
    records = _repeat_therapeutic(4, pain=((3, 3), (7, 2)), adl=((8, 5),)) + [interference(2, months_ago(2), "91147-9")]
    assert result("I.D.2", records, order(intent="therapeutic")) == DOC


def test_repeat_therapeutic_within_three_months_met_by_adl_improvement():
    records = _repeat_therapeutic(2, pain=((3, 1),), adl=((8, 3), (3, 1))) + [interference(2, days_ago(10))]
    assert result("I.D.2", records, order(intent="therapeutic")) == MET


def test_one_better_adl_score_is_not_yet_consistent_improvement():
    records = _repeat_therapeutic(2, pain=((3, 1),), adl=((8, 3), (3, 1)))
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == DOC and "needs another" in outcome.reason


def test_adl_scales_that_disagree_need_documentation():
    records = _repeat_therapeutic(4, pain=((3, 3), (7, 2)), adl=((8, 5), (2, 3), (2, 1)))
    records += [interference(4, months_ago(5), "91147-9"), interference(9, months_ago(2), "91147-9")]
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == DOC and "scales disagree" in outcome.reason


def test_a_pre_procedure_marker_of_another_visit_does_not_move_an_adl_score():
    """Interference scores are not linked to the prior injection: a marker on one belongs to another visit (today's
    order, say); dates place it, not the marker."""
    records = _repeat_therapeutic(4, pain=((3, 3), (7, 2)), adl=((8, 5), (3, 3), (3, 2)))
    from cds_service.policy.conventions import FACET_CDS_CODES, PRE_PROCEDURE_MARKER
    tagged = interference(3, days_ago(3)) | {"category": [{"coding": [
        {"system": FACET_CDS_CODES, "code": PRE_PROCEDURE_MARKER}]}]}  # for today's order, not the old injection
    assert result("I.D.2", records + [tagged], order(intent="therapeutic")) == MET


def test_rf_function_on_scales_that_disagree_is_not_shown():
    records = base() + rf_history(8, [(1, 2), (6, 3)], interference_scores=(5, 8))  # BPI worse
    records += [interference(7, months_ago(8) - timedelta(days=3), "91147-9"), interference(3, months_ago(1), "91147-9")]
    assert result("I.B.2.b", records, order("64635")) == DOC


def test_a_zero_interference_baseline_is_no_measure_of_improvement():
    records = _repeat_therapeutic(4, pain=((3, 3), (7, 2)), adl=((0, 5), (0, 3), (0, 1)))
    assert result("I.D.2", records, order(intent="therapeutic")) == DOC


def test_a_score_later_on_the_injection_day_is_not_the_adl_baseline():
    prior = procedure("64493", months_ago(4), intent="therapeutic", levels=("L4-L5",), at="09:00:00")
    blocks = block_with_relief(months_ago(14), 10, 1) + block_with_relief(months_ago(13), 10, 2)
    same_day_after = interference(2, months_ago(4)) | {"effectiveDateTime": f"{months_ago(4)}T12:00:00Z"}
    records = base() + blocks + [prior, pain_score(8, months_ago(4), part_of=prior, at="08:00:00"),
                                 pain_score(3, months_ago(3), part_of=prior), pain_score(7, months_ago(2), part_of=prior),
                                 interference(8, days_ago(130)), same_day_after,
                                 interference(3, months_ago(2)), interference(3, months_ago(1))]
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == MET, outcome.reason  # 8 before (a week earlier) → 2, 3, 3 after
    assert "interference 8 → 3" in outcome.reason


def test_repeat_therapeutic_within_three_months_says_the_period_has_not_passed():
    """The prior injection was two months ago: three months of relief cannot be recorded yet (the reason must not
    ask for what no documentation can give), and the ADL branch is still open."""
    records = _repeat_therapeutic(2, pain=((3, 1),))
    outcome = criterion("I.D.2", records, order(intent="therapeutic"))
    assert outcome.status.value == DOC
    assert f"relief cannot be shown before {months_ago(-1)}" in outcome.reason
    assert "same scale" in outcome.reason


def test_repeat_therapeutic_relief_three_months_is_met_without_adl_scores():
    records = _repeat_therapeutic(4, pain=((3, 3), (3, 1)))
    assert result("I.D.2", records, order(intent="therapeutic")) == MET


# ----------------------------------------------------------------- decisions
def test_fully_documented_first_block_is_covered():
    records = documented_first_block() + [attestation({"I.A.1.c": True, "I.A.1.f": True})]
    d = determine(records, order())
    assert d.decision.value == "covered", [(c.criterion_id, c.status.value, c.reason) for c in d.criteria if c.status.value != "met" and c.status.value != "not-applicable"]


def test_without_attestations_the_same_order_is_conditional_naming_what_is_missing():
    d = determine(documented_first_block(), order())
    assert d.decision.value == "conditional"
    assert {c.criterion_id for c in d.needs_documentation} == {"I.A.1.c", "I.A.1.f"}


def test_not_met_beats_documentation_and_technical_problems():
    ev = evaluate(default_library(), base(), [order(levels=("L1-L2", "L2-L3", "L3-L4", "L4-L5"))], today=DOS, technical_problem="timeout")
    assert ev.determinations[0].decision.value == "not-covered"
    ev = evaluate(default_library(), base(), [order()], today=DOS, technical_problem="timeout")
    assert ev.determinations[0].decision.value == "indeterminate"


@pytest.mark.parametrize("code", ["64493", "64635"])
def test_a_record_that_could_not_be_read_is_not_called_missing_or_failing(code):
    """The FHIR server failed: the criteria that read the record are unknown, not "not recorded", and an RF is
    not denied for "0 diagnostic blocks" nobody could read (contract §4 "Out": no data → indeterminate)."""
    d = evaluate(default_library(), [], [order(code)], today=DOS, technical_problem="timeout").determinations[0]
    assert d.decision.value == "indeterminate"
    record_rows = [c for c in d.criteria if c.status.value == DOC]
    assert record_rows and all("could not be read" in c.reason for c in record_rows)
    assert not any("no back or neck pain diagnosis" in c.reason or "0 diagnostic blocks" in c.reason
                   for c in d.criteria)


def test_a_partly_read_record_does_not_call_anything_unrecorded():
    """Only the block was read before the FHIR server failed: the relief and interference that may sit in the
    unread part are "not checked", not "not recorded"."""
    block = procedure("64493", days_ago(30), levels=("L4-L5",))
    d = evaluate(default_library(), base() + [block], [order()], today=DOS, technical_problem="timeout").determinations[0]
    assert d.decision.value == "indeterminate"
    shown = [c for c in d.criteria if c.status.value != NA]  # a card names not-applicable ones by id only
    assert not [c.criterion_id for c in shown if "not recorded" in c.reason]


def test_what_the_order_alone_decides_stands_when_the_record_could_not_be_read():
    d = evaluate(default_library(), [], [order(levels=("L1-L2", "L2-L3", "L3-L4", "L4-L5"))], today=DOS,
                 technical_problem="timeout").determinations[0]
    assert d.decision.value == "not-covered"
    assert {c.criterion_id for c in d.not_met} == {"I.A.1.d"}


def test_date_of_service_before_the_first_revision_gets_no_decision():
    d = determine(base(), order(day=None), today=date(2018, 5, 1))
    assert d.revision_id is None and d.decision is None and d.criteria == ()


def test_a_card_says_when_today_stood_in_for_the_date_of_service():
    from cds_service.cdshooks.presentation import order_line
    undated = {k: v for k, v in order(day=None).items() if k != "authoredOn"}
    assert "(today: the order names no date)" in order_line(determine(base(), undated))
    assert "today" not in order_line(determine(base(), order()))


def test_a_card_under_a_reconstructed_revision_says_it_was_reconstructed():
    from cds_service.cdshooks.presentation import instructions_detail
    rebuilt = instructions_detail(determine(base(), order(day=date(2025, 6, 2))), pa_needed="auth-needed")
    published = instructions_detail(determine(base(), order()), pa_needed="auth-needed")
    assert "05/25 (reconstructed from the revision log of the 05/26 text)" in rebuilt.splitlines()[0]
    assert "reconstructed" not in published


def test_date_of_service_falls_back_to_period_then_authored_then_today():
    o = order(day=None)
    o["occurrencePeriod"] = {"start": "2023-03-01"}
    assert determine(base(), o).revision_id == "2019"
    o = order(day=None)
    o["authoredOn"] = "2024-07-01"
    assert determine(base(), o).revision_id == "2024-06"
    assert determine(base(), order(day=None)).date_of_service == DOS.isoformat()


@pytest.mark.parametrize("value, shown", [(80.0, "80%"), (79.96, "79.9%"), (79.99999, "79.9%"), (77.78, "77.7%"),
                                          (80.000000000001, "80%"), (49.6, "49.6%")])
def test_a_percent_never_reads_as_more_than_was_measured(value, shown):
    from cds_service.evaluation.clinical import percent_text
    assert percent_text(value) == shown


def test_the_evidence_of_a_relief_just_under_the_threshold_says_so_too():
    blk = procedure("64493", days_ago(30), levels=("L4-L5",))
    outcome = criterion("I.A.1 Note", base() + [blk, percent_relief(79.99, blk)], order())
    assert all("80%" not in (e.note or "") for e in outcome.evidence), outcome.evidence
