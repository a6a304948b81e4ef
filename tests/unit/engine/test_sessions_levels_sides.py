"""Issue 8 kinds "What a block is", "Levels and sides", "Reading text" (contract §4), both revisions.

Each row is a record shape real EHRs send; the expectation is the policy text's, written before the run.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.evaluation.procedures import facet_code_of, level_names, levels_in_text, names_pulsed_rf, order_side
from tests.support.criteria_tables import MET, NOT_MET, R2019, determine, result
from tests.support.fhir_builders import DOS, block_with_relief, condition, coverage, days_ago, order, patient, procedure

# criterion ids per revision: up-to-two blocks, levels per session (block), levels (RF), two positive blocks for RF
IDS = {
    "2026": {"count": "I.A.1", "levels": "I.A.1.d", "rf_levels": "I.B.1.c", "rf_blocks": "I.B.1.b", "visit": "I"},
    "2019": {"count": "I.A", "levels": "I.A.4", "rf_levels": "II.A.3", "rf_blocks": "II.A.2", "visit": "I"},
}
REVISIONS = [pytest.param("2026", {}, id="05-26"), pytest.param("2019", R2019, id="2019")]


def base():
    return [patient(), coverage(), condition("M47.816", DOS - timedelta(days=400)), condition("M47.812", DOS - timedelta(days=400))]


def session(day, *codes, levels=("L4-L5",), before=8, after=1):
    """One visit recorded the way EHRs do: the first Procedure carries the pain scores, the rest ride along."""
    first = block_with_relief(day, before, after, code=codes[0], levels=levels)
    return first + [procedure(code, day, levels=levels) for code in codes[1:]]


# ----------------------------------------------------------------- what a block is
@pytest.mark.parametrize("revision, kw", REVISIONS)
@pytest.mark.parametrize("name, history, expected", [
    # primary + add-on recorded as two Procedures the same day is ONE block: this order is block 2 of 2
    ("primary-and-add-on-same-day-is-one-block", lambda: session(days_ago(30), "64493", "64494", levels=("L4-L5", "L5-S1")), MET),
    # left and right recorded separately the same day: one block
    ("left-and-right-same-day-is-one-block", lambda: session(days_ago(30), "64493", "64493"), MET),
    # two sessions on two days are two blocks: a third diagnostic block is over the limit
    ("two-days-are-two-blocks", lambda: session(days_ago(60), "64493", "64494") + session(days_ago(30), "64493", "64494"), NOT_MET),
    # blocks of another region never count here (cervical blocks, lumbar order)
    ("cervical-sessions-do-not-count-for-lumbar", lambda: session(days_ago(60), "64490", levels=("C5-C6",)) + session(days_ago(30), "64490", levels=("C5-C6",)), MET),
])
def test_a_block_is_a_session(revision, kw, name, history, expected):
    assert result(IDS[revision]["count"], base() + history(), order(intent="diagnostic"), **kw) == expected


@pytest.mark.parametrize("revision, kw", REVISIONS)
def test_thoracic_blocks_do_not_count_toward_a_cervical_order(revision, kw):
    thoracic = session(days_ago(60), "64490", levels=("T4-T5",)) + session(days_ago(30), "64490", levels=("T4-T5",))
    cervical = order("64490", levels=("C5-C6",), intent="diagnostic")
    assert result(IDS[revision]["count"], base() + thoracic, cervical, **kw) == MET
    cervical_history = session(days_ago(60), "64490", levels=("C5-C6",)) + session(days_ago(30), "64490", levels=("C5-C6",))
    assert result(IDS[revision]["count"], base() + cervical_history, cervical, **kw) == NOT_MET


@pytest.mark.parametrize("revision, kw", REVISIONS)
def test_rf_is_qualified_only_by_blocks_of_its_region(revision, kw):
    rf = order("64635", levels=("L4-L5",))
    lumbar_pair = session(days_ago(60), "64493", "64494") + session(days_ago(30), "64493", "64494")
    assert result(IDS[revision]["rf_blocks"], base() + lumbar_pair, rf, **kw) != NOT_MET
    # one lumbar session recorded as primary + add-on is one block, not two
    one_session = session(days_ago(30), "64493", "64494")
    assert result(IDS[revision]["rf_blocks"], base() + one_session, rf, **kw) == NOT_MET
    cervical_pair = session(days_ago(60), "64490", levels=("C5-C6",)) + session(days_ago(30), "64490", levels=("C5-C6",))
    determination = determine(base() + cervical_pair, rf, **kw)
    row = next(c for c in determination.criteria if c.criterion_id == IDS[revision]["rf_blocks"])
    assert row.status.value == NOT_MET and "0 diagnostic blocks" in row.reason
    assert not row.evidence  # never evidence from another region


# ----------------------------------------------------------------- levels
@pytest.mark.parametrize("text, levels", [
    ("L3-L4, L4-L5 and L5-S1", ["L3-L4", "L4-L5", "L5-S1"]),
    ("L4-5 and L5-S1", ["L4-L5", "L5-S1"]),
    ("bilateral L4/5 facet joints", ["L4-L5"]),
    ("Left C5–C6", ["C5-C6"]),
    ("L3-L5 facets", ["L3-L4", "L4-L5"]),
    ("T7", ["T7"]),
    ("L3 and L4 medial branches", ["L3+L4 medial branches"]),  # two nerves of one joint: one level
    ("lumbar spine structure", []),
    ("Lumbar facet joint, left", []),
])
def test_level_parser(text, levels):
    assert levels_in_text(text) == levels


@pytest.mark.parametrize("revision, kw", REVISIONS)
@pytest.mark.parametrize("name, order_, expected", [
    ("three-levels-in-one-text", lambda: order("64493", levels=("L3-L4, L4-L5 and L5-S1",), intent="diagnostic"), MET),
    ("four-levels-in-one-text", lambda: order("64493", levels=("L2-L3, L3-L4, L4-L5 and L5-S1",), intent="diagnostic"), NOT_MET),
    ("left-right-bilateral-at-one-level", lambda: order("64493", levels=("left L4-L5", "right L4-L5", "bilateral L4-5"), intent="diagnostic"), MET),
])
def test_levels_per_session(revision, kw, name, order_, expected):
    assert result(IDS[revision]["levels"], base(), order_(), **kw) == expected


@pytest.mark.parametrize("revision, kw", REVISIONS)
def test_rf_joint_is_one_level_with_both_nerves_named(revision, kw):
    rf = order("64635", levels=("left L3 and L4 medial branches", "right L3 and L4 medial branches"))
    d = determine(base(), rf, **kw)
    assert d.level_count == 1
    assert {c.criterion_id: c.status.value for c in d.criteria}[IDS[revision]["rf_levels"]] == MET


def test_first_three_levels_suggestion_splits_a_text_naming_four():
    from cds_service.cdshooks.cards import _keep_levels

    four = order("64493", levels=("L2-L3, L3-L4, L4-L5 and L5-S1",))
    updated, change = _keep_levels(four, keep=("L2-L3", "L3-L4", "L4-L5"), max_levels=3, revision="05/26", criterion_ids=("I.A.1.d",))
    assert level_names(updated["bodySite"]) == ["L2-L3", "L3-L4", "L4-L5"]
    assert "drops L5-S1" in change.explanation


# ----------------------------------------------------------------- sides
def _sided(code, side, **kw):
    o = order(code, **kw)
    o["bodySite"] = [{"text": f"{side} L4-L5 facet joint"}]
    return o


def _modifier(code, modifier, **kw):
    o = order(code, **kw)
    o["orderDetail"] = [{"coding": [{"system": "http://www.ama-assn.org/go/cpt-modifier", "code": modifier}]}]
    return o


@pytest.mark.parametrize("revision, kw", REVISIONS)
@pytest.mark.parametrize("name, orders", [
    ("left-and-right-by-bodySite-text", lambda: [_sided("64493", "left", intent="diagnostic"), _sided("64493", "right", intent="diagnostic")]),
    ("left-and-right-by-modifiers", lambda: [_modifier("64493", "LT", intent="diagnostic"), _modifier("64493", "RT", intent="diagnostic")]),
    ("left-and-right-by-laterality-code", lambda: [
        {**order("64493", intent="diagnostic"), "bodySite": [{"text": "L4-L5", "coding": [{"system": "http://snomed.info/sct", "code": "7771000"}]}]},
        {**order("64493", intent="diagnostic"), "bodySite": [{"text": "L4-L5", "coding": [{"system": "http://snomed.info/sct", "code": "24028007"}]}]},
    ]),
])
def test_two_sides_are_one_bilateral_procedure(revision, kw, name, orders):
    d = determine(base(), orders(), **kw)  # exactly one determination
    assert len(d.order_ids) == 2  # both ServiceRequests carry the decision
    statuses = {c.criterion_id: c.status.value for c in d.criteria}
    assert statuses[IDS[revision]["visit"]] == MET
    assert d.level_count == 1


def test_side_reading():
    assert order_side(_sided("64493", "Left")) == "left"
    assert order_side(_modifier("64493", "50")) == "bilateral"
    assert order_side(order("64493")) is None


def test_same_side_twice_is_not_merged():
    from cds_service.evaluation.procedures import group_orders

    procedures, _ = group_orders([_sided("64493", "left"), _sided("64493", "left")], DOS)
    assert len(procedures) == 2


# ----------------------------------------------------------------- one procedure per visit
@pytest.mark.parametrize("revision, kw", REVISIONS)
@pytest.mark.parametrize("name, extra, expected", [
    ("rf-ordered-for-six-weeks-later-is-another-visit", lambda: order("64635", day=DOS + timedelta(days=42)), MET),
    ("epidural-same-day", lambda: order("62323", levels=()), NOT_MET),
    ("epidural-another-day", lambda: order("62323", levels=(), day=DOS + timedelta(days=14)), MET),
    ("cervical-block-same-day-other-region", lambda: order("64490", levels=("C5-C6",)), NOT_MET),
    ("imaging-same-day", lambda: order("72148", levels=()), MET),
])
def test_one_procedure_per_visit(revision, kw, name, extra, expected):
    from cds_service.evaluation.evaluator import evaluate
    from cds_service.usecases.engine import default_library

    orders = [order("64493", intent="diagnostic"), extra()]
    first = evaluate(default_library(), base(), orders, today=DOS, revision_id=kw.get("revision")).determinations[0]
    assert {c.criterion_id: c.status.value for c in first.criteria}["I"] == expected


def test_rf_ordered_for_later_still_counts_as_rf_being_considered():
    later = order("64635", day=DOS + timedelta(days=42))
    from cds_service.evaluation.evaluator import evaluate
    from cds_service.usecases.engine import default_library

    first = evaluate(default_library(), base(), [order("64493", intent="diagnostic"), later], today=DOS).determinations[0]
    assert {c.criterion_id: c.status.value for c in first.criteria}["I.A.1.f"] == MET


# ----------------------------------------------------------------- reading text
@pytest.mark.parametrize("text, pulsed", [
    ("pulsed radiofrequency of lumbar facet medial branches", True),
    ("Pulsed RF, L4-L5 facet", True),
    ("conventional RF, not pulsed, lumbar facet", False),
    ("no pulsed mode; facet medial branch", False),
    ("non-pulsed thermal RF of facet joints", False),
    ("without pulsed current, facet", False),
    ("impulsed facet", False),  # whole words only
])
def test_pulsed_rf_text(text, pulsed):
    assert names_pulsed_rf(text) is pulsed
    in_scope = facet_code_of(order("64999", levels=(), text=text))
    assert (in_scope is not None) is pulsed


@pytest.mark.parametrize("revision, kw", REVISIONS)
def test_conventional_rf_saying_not_pulsed_is_not_pulsed_rf(revision, kw):
    d = determine(base(), order("64635", text="RF neurotomy L4-L5, conventional thermal, not pulsed"), **kw)
    assert d.kind == "rf-initial"
    d = determine(base(), order("64635", text="pulsed RF neurotomy L4-L5"), **kw)
    assert d.kind == "pulsed-rf"


def test_bilateral_add_ons_without_bodySite_count_per_side():
    from cds_service.evaluation.procedures import group_orders

    def m(code, modifier, **kw):
        o = _modifier(code, modifier, levels=(), **kw)
        return o

    orders = [m("64635", "LT"), m("64635", "RT"), m("64636", "LT", quantity=1), m("64636", "RT", quantity=1)]
    procedures, _ = group_orders(orders, DOS)
    assert len(procedures) == 1
    assert procedures[0].level_count() == 2  # L4-5 and L5-S1 on both sides: two joints, not four


def test_rf_units_suggestion_is_per_side_for_a_bilateral_procedure():
    from cds_service.cdshooks.cards import _allowed_add_on_units

    left, right = _modifier("64635", "LT", levels=()), _modifier("64635", "RT", levels=())
    add_left, add_right = _modifier("64636", "LT", levels=(), quantity=3), _modifier("64636", "RT", levels=(), quantity=3)
    assert _allowed_add_on_units([left, right, add_left, add_right], 3) == {add_left["id"]: 2, add_right["id"]: 2}
    assert _allowed_add_on_units([left, _modifier("64636", "LT", levels=(), quantity=3)], 3) != {}


def test_add_on_joins_the_primary_of_its_own_region_and_day():
    from cds_service.evaluation.procedures import group_orders

    thoracic, cervical = order("64490", levels=("T4-T5",)), order("64490", levels=("C5-C6",))
    add_on = order("64491", levels=("C6-C7",))
    later_add_on = order("64491", levels=("C6-C7",), day=DOS + timedelta(days=1))
    procedures, _ = group_orders([thoracic, cervical, add_on, later_add_on], DOS)
    by_primary = {p.primary["id"]: p for p in procedures}
    assert by_primary[cervical["id"]].add_ons == (add_on,)
    assert by_primary[thoracic["id"]].add_ons == ()
    assert later_add_on["id"] in by_primary  # another day: not part of today's procedure
