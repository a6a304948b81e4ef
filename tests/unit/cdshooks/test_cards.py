"""Cards as a clinician and an EHR see them: summaries, the criteria table, fixes, no noise."""
from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cdshooks.cards import build_cards
from cds_service.cdshooks.coverage_info import build_system_actions
from cds_service.evaluation.results import Decision, Evidence, Status
from cds_service.policy.conventions import CARD_TYPE_SYSTEM, CPT
from tests.support.response_checks import check_cds_response
from tests.unit.cdshooks import (
    CRITERIA_2019,
    CRITERIA_2026,
    POLICY_URL,
    SETTINGS,
    determination,
    service_request,
    uuid_source,
)

ORDERS = {"sr-1": service_request("sr-1", "64493", body_sites=("L4-L5",))}
NOT_MET, DOC = Status.NOT_MET, Status.DOCUMENTATION


def sign_cards(*determinations, orders=ORDERS, card_settings=SETTINGS, assertions=()):
    return build_cards(determinations, hook="order-sign", settings=card_settings, new_uuid=uuid_source(),
                       orders_by_id=orders, assertions=assertions)


def select_cards(*determinations, orders=ORDERS, card_settings=SETTINGS):
    return build_cards(determinations, hook="order-select", settings=card_settings, new_uuid=uuid_source(),
                       orders_by_id=orders)


def table_rows(detail: str) -> list[list[str]]:
    """The body rows of the markdown table, as cells (escaped pipes stay inside their cell)."""
    lines = [line for line in detail.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def not_applicable_ids(detail: str) -> list[str]:
    """The criterion ids of the folded "Not applicable to this …: id, id." line."""
    line = next((line for line in detail.splitlines() if line.startswith("Not applicable to this ")), None)
    return line.split(": ", 1)[1].rstrip(".").split(", ") if line else []


def topic_code(card: dict) -> str:
    return card["source"]["topic"]["code"]


# --- order-sign: the Instructions card -------------------------------------------------------

@pytest.mark.parametrize(("det", "summary", "indicator"), [
    (determination(Decision.COVERED), "Lumbar facet block: meets CP.MP.171 (05/26)", "info"),
    (determination(Decision.NOT_COVERED, changes={"I.A.1.a": NOT_MET, "I.A.1.e": NOT_MET}),
     "Lumbar facet block: not covered (I.A.1.a, I.A.1.e)", "warning"),
    (determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC, "I.A.1.f": DOC}),
     "Lumbar facet block: documentation needed (I.A.1.c, I.A.1.f)", "warning"),
    (determination(Decision.INDETERMINATE), "Lumbar facet block: coverage could not be checked (record unavailable)",
     "warning"),
], ids=["covered", "not-covered", "conditional", "indeterminate"])
def test_instructions_summary_states_the_decision_in_a_clinicians_words(det, summary, indicator):
    instructions = sign_cards(det)[0]

    assert instructions["summary"] == summary
    assert instructions["indicator"] == indicator


def test_instructions_card_is_a_guideline_card_without_links_or_suggestions():
    instructions = sign_cards(determination(Decision.NOT_COVERED, changes={"I.A.1.a": NOT_MET}))[0]

    assert instructions["source"] == {
        "label": "Centene", "topic": {"system": CARD_TYPE_SYSTEM, "code": "guideline", "display": "Guideline"}}
    assert "links" not in instructions and "suggestions" not in instructions
    assert "selectionBehavior" not in instructions


def test_detail_opens_with_the_decision_and_the_revision_used():
    detail = sign_cards(determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC}))[0]["detail"]

    assert detail.splitlines()[0] == (
        "**Documentation needed** under CP.MP.171 revision 05/26: 1 item needs documentation.")


def test_detail_table_lists_every_criterion_of_the_revision_with_its_result():
    changes = {"I.A.1.c": DOC, "I.A.1.e": NOT_MET, "I.B": Status.NOT_APPLICABLE, "I.C": Status.NOT_APPLICABLE}
    detail = sign_cards(determination(Decision.NOT_COVERED, changes=changes))[0]["detail"]

    results = {row[0].replace("**", "").split(" title ")[0]: row[1].strip("*") for row in table_rows(detail)}
    assert results["I.A.1.e"] == "not met"
    assert results["I.A.1.c"] == "needs documentation"
    results |= {i: "not applicable" for i in not_applicable_ids(detail)}
    assert list(results) != list(CRITERIA_2026)  # problems are moved up...
    assert sorted(results) == sorted(CRITERIA_2026)  # ...but every criterion is there, once
    assert results["I.C"] == "not applicable"
    assert results["I.A.1.a"] == "met"


def test_not_applicable_criteria_fold_into_one_line_after_the_table():
    changes = {"I.A.1.e": NOT_MET, "I.B": Status.NOT_APPLICABLE, "I.C": Status.NOT_APPLICABLE}
    detail = sign_cards(determination(Decision.NOT_COVERED, changes=changes))[0]["detail"]

    assert detail.splitlines()[-1] == "Not applicable to this lumbar facet block: I.B, I.C."
    assert not any(row[0].startswith(("I.B ", "I.C ")) for row in table_rows(detail))


def test_problem_rows_come_first_and_in_bold():
    changes = {"I.D.1": DOC, "I.A.1.e": NOT_MET}
    rows = table_rows(sign_cards(determination(Decision.NOT_COVERED, changes=changes))[0]["detail"])

    assert [row[1] for row in rows[:2]] == ["**not met**", "**needs documentation**"]
    assert rows[0][0].startswith("**I.A.1.e**") and rows[1][0].startswith("**I.D.1**")
    assert not any("**" in cell for row in rows[2:] for cell in row)


def test_evidence_reads_code_and_date_first_with_the_reference_after():
    rows = table_rows(sign_cards(determination(Decision.COVERED))[0]["detail"])

    assert rows[0][3] == "CPT 64493 on 2026-09-01 (Procedure/blk-1)"


def test_attested_criteria_say_so_and_pipes_in_reasons_do_not_break_the_table():
    det = determination(Decision.COVERED)
    attested = replace(det.criteria[8], settled_by_attestation=True, reason="a | b",
                       evidence=(Evidence("QuestionnaireResponse", "qr-1", "2026-08-30", note="answered yes"),))
    det = replace(det, criteria=(*det.criteria[:8], attested, *det.criteria[9:]))

    row = next(r for r in table_rows(sign_cards(det)[0]["detail"]) if r[0].startswith("I.A.1.c"))

    assert row[1:] == ["met (attested)", "a \\| b", "answered yes on 2026-08-30 (QuestionnaireResponse/qr-1)"]


def test_detail_renders_as_a_table_with_one_row_per_criterion():
    markdown_it = pytest.importorskip("markdown_it")
    detail = sign_cards(determination(Decision.NOT_COVERED, changes={"I.A.1.e": NOT_MET}))[0]["detail"]

    html = markdown_it.MarkdownIt("commonmark").enable("table").render(detail)

    assert html.count("<table>") == 1
    assert html.count("<tr>") == len(CRITERIA_2026) + 1


def test_instructions_name_the_order_in_human_terms_and_point_at_its_orders():
    det = determination(Decision.COVERED, order_ids=("sr-1", "sr-2"),
                        label="Lumbar diagnostic facet block (64493 + 64494), 2 levels")
    instructions = sign_cards(det)[0]

    assert "Order: Lumbar diagnostic facet block (64493 + 64494), 2 levels" in instructions["detail"]
    assert instructions["extension"] == {
        "davinci-crd.associated-resource": ["ServiceRequest/sr-1", "ServiceRequest/sr-2"]}


def test_covered_detail_tells_whether_prior_authorization_is_needed():
    det = determination(Decision.COVERED)

    assert "Prior authorization is required." in sign_cards(det)[0]["detail"]
    no_auth = replace(SETTINGS, pa_needed="no-auth")
    assert "No prior authorization is needed." in sign_cards(det, card_settings=no_auth)[0]["detail"]


def test_indeterminate_detail_carries_no_technical_text():
    det = replace(determination(Decision.INDETERMINATE), technical_problem="ReadTimeout: fhir.example:443")

    card = sign_cards(det)[0]

    assert "Timeout" not in json.dumps(card)
    assert "could not be checked" in card["detail"]


def test_summaries_stay_under_140_characters_when_many_items_need_documentation():
    changes = {i: DOC for i in CRITERIA_2026[3:25]}
    summary = sign_cards(determination(Decision.CONDITIONAL, changes=changes))[0]["summary"]

    assert len(summary) < 140
    assert summary.startswith("Lumbar facet block: documentation needed (I.A.1.a, ")
    assert re.search(r" \+\d+ more\)$", summary)


@pytest.mark.parametrize("indicator_of_decision", [Decision.NOT_COVERED, Decision.CONDITIONAL, Decision.INDETERMINATE])
def test_warning_cards_offer_override_reasons_with_display(indicator_of_decision):
    card = sign_cards(determination(indicator_of_decision, changes={"I.A.1.a": NOT_MET}))[0]

    assert len(card["overrideReasons"]) >= 2
    assert all({"code", "system", "display"} <= set(reason) for reason in card["overrideReasons"])


def test_info_cards_have_no_override_reasons():
    assert all("overrideReasons" not in card for card in sign_cards(determination(Decision.COVERED)))


# --- the External Reference card ----------------------------------------------------------------

def test_one_policy_link_card_per_response_whatever_the_number_of_procedures():
    first = determination(Decision.COVERED)
    second = determination(Decision.COVERED, order_ids=("sr-9",), kind="rf-initial", codes=("64635",))

    cards = sign_cards(first, second)
    references = [card for card in cards if "links" in card]

    assert len(references) == 1
    assert references[0]["links"] == [
        {"label": "CP.MP.171 Facet Joint Interventions (policy text)", "url": POLICY_URL, "type": "absolute"}]
    assert topic_code(references[0]) == "guideline"
    assert "suggestions" not in references[0]
    assert references[0] is cards[-1]


# --- no revision for the date of service ----------------------------------------------------------

def test_date_before_the_earliest_revision_gets_one_info_card_saying_so():
    cards = sign_cards(determination(revision_id=None))

    assert len(cards) == 1
    assert cards[0]["summary"] == "Lumbar facet block: no CP.MP.171 revision applies to 2018-03-01"
    assert cards[0]["indicator"] == "info"
    assert "No revision of CP.MP.171" in cards[0]["detail"]


# --- Propose-Alternate-Request ------------------------------------------------------------------

ULTRASOUND_ORDERS = {
    "sr-1": service_request("sr-1", "0216T", body_sites=("L3-L4",), display="US-guided facet inj lumbar",
                            text="US-guided facet inj lumbar"),
    "sr-2": service_request("sr-2", "0217T", body_sites=("L4-L5",), text="Second level, as discussed"),
}
ULTRASOUND = determination(
    Decision.NOT_COVERED, changes={"Table 2": NOT_MET}, order_ids=("sr-1", "sr-2"), codes=("0216T", "0217T"),
    levels=("L3-L4", "L4-L5"), level_count=2, label="Lumbar facet block, ultrasound guided (0216T + 0217T), 2 levels")


def alternatives(cards):
    return [card for card in cards if topic_code(card) == "therapy-alternatives-req"]


def only_update(card: dict) -> dict:
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "update"
    return action["resource"]


def test_ultrasound_codes_get_one_card_per_order_swapping_to_the_fluoroscopic_code():
    cards = alternatives(sign_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS))

    assert [card["summary"] for card in cards] == [
        "Lumbar facet block: change 0216T to 64493 (fluoroscopic guidance)",
        "Lumbar facet block: change 0217T to 64494 (fluoroscopic guidance)",
    ]
    assert [only_update(card)["code"]["coding"][0]["code"] for card in cards] == ["64493", "64494"]
    assert all(card["selectionBehavior"] == "at-most-one" and card["indicator"] == "warning" for card in cards)
    assert [card["extension"]["davinci-crd.associated-resource"] for card in cards] == [
        ["ServiceRequest/sr-1"], ["ServiceRequest/sr-2"]]


def test_an_ultrasound_order_coded_with_the_cpt_oid_gets_the_same_swap():
    orders = copy.deepcopy(ULTRASOUND_ORDERS)
    for order in orders.values():
        order["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.12"  # contract §4 "Codes"

    cards = alternatives(sign_cards(ULTRASOUND, orders=orders))

    assert [only_update(card)["code"]["coding"][0]["code"] for card in cards] == ["64493", "64494"]


def test_code_swap_changes_the_cpt_coding_and_nothing_else():
    cards = alternatives(sign_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS))
    original = ULTRASOUND_ORDERS["sr-2"]

    updated = only_update(cards[1])

    expected = copy.deepcopy(original)
    expected["code"]["coding"][0] = {
        "system": CPT, "code": "64494",
        "display": "Facet joint injection, fluoroscopy or CT guided, lumbar or sacral; second level"}
    assert updated == expected  # the clinician's own code.text is kept


def test_code_text_that_only_echoed_the_old_display_follows_the_new_code():
    updated = only_update(alternatives(sign_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS))[0])

    assert updated["code"]["text"] == updated["code"]["coding"][0]["display"]
    assert "fluoroscopy" in updated["code"]["text"]


def test_suggestions_carry_uuid_label_and_described_actions():
    for card in alternatives(sign_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS)):
        (suggestion,) = card["suggestions"]
        assert suggestion["uuid"] and suggestion["label"].startswith("Change 0")
        assert suggestion["actions"][0]["description"].startswith("Update ServiceRequest/sr-")


def test_alternative_detail_explains_why_and_what_changes():
    detail = alternatives(sign_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS))[0]["detail"]

    assert "Table 2" in detail and "fluoroscopy or CT" in detail
    assert "changes only the CPT code of the 0216T order" in detail


def test_input_orders_are_not_modified():
    orders = copy.deepcopy(ULTRASOUND_ORDERS)

    sign_cards(ULTRASOUND, orders=orders)

    assert orders == ULTRASOUND_ORDERS


FIVE_LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")


def test_more_than_three_levels_keeps_the_first_three_body_sites():
    orders = {"sr-1": service_request("sr-1", "64493", body_sites=FIVE_LEVELS),
              "sr-2": service_request("sr-2", "64494"), "sr-3": service_request("sr-3", "64495")}
    det = determination(Decision.NOT_COVERED, changes={"I.A.1.d": NOT_MET}, order_ids=("sr-1", "sr-2", "sr-3"),
                        codes=("64493", "64494", "64495"), levels=FIVE_LEVELS, level_count=5)

    (card,) = alternatives(sign_cards(det, orders=orders))
    updated = only_update(card)

    assert card["summary"] == "Lumbar facet block: treat L1-L2, L2-L3, L3-L4 only"
    assert updated["bodySite"] == orders["sr-1"]["bodySite"][:3]
    assert {k: v for k, v in updated.items() if k != "bodySite"} == {
        k: v for k, v in orders["sr-1"].items() if k != "bodySite"}
    assert "drops L4-L5, L5-S1" in card["detail"]


def test_levels_spread_over_add_ons_are_cut_on_the_add_on_that_goes_past_three():
    orders = {"sr-1": service_request("sr-1", "64490", body_sites=("C2-C3",)),
              "sr-2": service_request("sr-2", "64491", body_sites=("C3-C4",)),
              "sr-3": service_request("sr-3", "64492", body_sites=("C4-C5", "C5-C6"))}
    det = determination(Decision.NOT_COVERED, changes={"I.A.1.d": NOT_MET}, order_ids=("sr-1", "sr-2", "sr-3"),
                        region="cervical", codes=("64490", "64491", "64492"),
                        levels=("C2-C3", "C3-C4", "C4-C5", "C5-C6"), level_count=4)

    (card,) = alternatives(sign_cards(det, orders=orders))

    assert card["extension"]["davinci-crd.associated-resource"] == ["ServiceRequest/sr-3"]
    assert only_update(card)["bodySite"] == [{"text": "Left and right C4-C5 facet joint"}]


def test_rf_add_on_quantity_is_reduced_so_primary_and_add_on_make_three():
    orders = {"sr-1": service_request("sr-1", "64635"), "sr-2": service_request("sr-2", "64636", quantity=4)}
    det = determination(Decision.NOT_COVERED, changes={"I.B.1.c": NOT_MET}, order_ids=("sr-1", "sr-2"),
                        kind="rf-initial", codes=("64635", "64636"), levels=(), level_count=5)

    (card,) = alternatives(sign_cards(det, orders=orders))
    updated = only_update(card)

    assert card["summary"] == "Lumbar facet RF ablation: reduce 64636 to 2 units (3 joints in all)"
    assert updated["quantityQuantity"] == {"value": 2, "unit": "joint"}
    assert {k: v for k, v in updated.items() if k != "quantityQuantity"} == {
        k: v for k, v in orders["sr-2"].items() if k != "quantityQuantity"}


def test_rf_with_named_levels_and_too_many_units_gets_both_fixes():
    orders = {"sr-1": service_request("sr-1", "64635", body_sites=("L2-L3", "L3-L4", "L4-L5", "L5-S1")),
              "sr-2": service_request("sr-2", "64636", quantity=3)}
    det = determination(Decision.NOT_COVERED, changes={"I.B.2.c": NOT_MET}, order_ids=("sr-1", "sr-2"),
                        kind="rf-repeat", codes=("64635", "64636"), levels=("L2-L3", "L3-L4", "L4-L5", "L5-S1"),
                        level_count=4)

    cards = alternatives(sign_cards(det, orders=orders))

    assert [len(only_update(c).get("bodySite", [])) for c in cards] == [3, 0]
    assert only_update(cards[1])["quantityQuantity"]["value"] == 2


def test_ultrasound_and_too_many_levels_on_one_order_make_one_update():
    orders = {"sr-1": service_request("sr-1", "0216T", body_sites=FIVE_LEVELS)}
    det = determination(Decision.NOT_COVERED, changes={"Table 2": NOT_MET, "I.A.1.d": NOT_MET},
                        codes=("0216T",), levels=FIVE_LEVELS, level_count=5)

    (card,) = alternatives(sign_cards(det, orders=orders))
    updated = only_update(card)

    assert updated["code"]["coding"][0]["code"] == "64493" and len(updated["bodySite"]) == 3
    assert "CPT code and body sites" in card["detail"]


def test_no_alternative_when_no_update_can_fix_the_levels():
    orders = {"sr-1": service_request("sr-1", "64493"), "sr-2": service_request("sr-2", "64495")}
    det = determination(Decision.NOT_COVERED, changes={"I.A.1.d": NOT_MET}, order_ids=("sr-1", "sr-2"),
                        levels=(), level_count=None)

    assert alternatives(sign_cards(det, orders=orders)) == []


# --- documentation app (SMART) ----------------------------------------------------------------

WITH_APP = replace(SETTINGS, documentation_app_url="https://dtr.centene.example/launch")
NEEDS_FORM = determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC, "I.A.1.f": DOC},
                           attestable=frozenset({"I.A.1.c"}),
                           questionnaire="https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2026-05")


def test_documentation_app_card_carries_assertion_id_and_questionnaire():
    _, records = build_system_actions(
        [NEEDS_FORM], hook="order-sign", orders_by_id=ORDERS, coverage_reference="Coverage/cov-1",
        questionnaire_for=lambda revision: f"https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|{revision}",
        settings=WITH_APP, new_assertion_id=lambda: "assert-1", today=date(2026, 8, 1))

    cards = sign_cards(NEEDS_FORM, card_settings=WITH_APP, assertions=records)
    (link,) = next(card for card in cards if any(lk["type"] == "smart" for lk in card.get("links", [])))["links"]

    assert json.loads(link["appContext"]) == {
        "orders": ["ServiceRequest/sr-1"], "coverage-assertion-ids": ["assert-1"],
        "questionnaire": "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2026-05"}
    assert link["url"] == "https://dtr.centene.example/launch"


@pytest.mark.parametrize(("det", "card_settings"), [
    (NEEDS_FORM, SETTINGS),  # no app configured
    (determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC}), WITH_APP),  # nothing the form can answer
])
def test_no_documentation_app_card_when_it_could_not_help(det, card_settings):
    cards = sign_cards(det, card_settings=card_settings)

    assert not any(link["type"] == "smart" for card in cards for link in card.get("links", []))


# --- order-select: only what is already decidable ---------------------------------------------

@pytest.mark.parametrize("det", [
    determination(Decision.COVERED),
    determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC}, attestable=frozenset({"I.A.1.c"})),
    determination(Decision.INDETERMINATE),
    determination(Decision.NOT_COVERED, changes={"I.A.1.a": NOT_MET}),  # duration: may be documented later
    determination(Decision.NOT_COVERED, changes={"I.A.1": NOT_MET}),  # 05/26 header, not an interval
], ids=["covered", "conditional", "indeterminate", "undecidable-not-met", "2026-I.A.1"])
def test_order_select_is_silent_when_nothing_is_decidable_yet(det):
    assert select_cards(det, card_settings=WITH_APP) == []


@pytest.mark.parametrize(("changes", "ids"), [
    ({"I.C": NOT_MET}, "(I.C)"),
    ({"I.F": NOT_MET}, "(I.F)"),
    ({"I.A.1.e": NOT_MET}, "(I.A.1.e)"),
    ({"I.B.2.a": NOT_MET, "I.A.1.a": NOT_MET}, "(I.B.2.a)"),
], ids=["thoracic-injection", "pulsed-rf", "interval", "rf-interval"])
def test_order_select_warns_on_not_medically_necessary_and_too_short_intervals(changes, ids):
    cards = select_cards(determination(Decision.NOT_COVERED, changes=changes))

    assert cards[0]["summary"] == f"Lumbar facet block: not covered under CP.MP.171 {ids}"
    assert cards[0]["indicator"] == "warning"
    assert "checked when the order is signed" in cards[0]["detail"]
    assert [topic_code(card) for card in cards] == ["guideline", "guideline"]  # the warning, then the policy link


def test_order_select_knows_the_2019_interval_criterion():
    det = determination(Decision.NOT_COVERED, ids=CRITERIA_2019, changes={"I.A.1": NOT_MET},
                        revision_id="2019-07", revision_label="07/19")

    assert select_cards(det)[0]["summary"] == "Lumbar facet block: not covered under CP.MP.171 (I.A.1)"


def test_order_select_offers_the_ultrasound_fix_without_a_separate_warning():
    cards = select_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS)

    assert [topic_code(card) for card in cards] == ["therapy-alternatives-req"] * 2 + ["guideline"]
    assert "links" in cards[-1]


def test_order_select_never_asks_for_documentation():
    det = determination(Decision.NOT_COVERED, changes={"I.C": NOT_MET, "I.A.1.c": DOC},
                        attestable=frozenset({"I.A.1.c"}))

    cards = select_cards(det, card_settings=WITH_APP)

    assert not any("document" in card["summary"].lower() for card in cards)
    assert not any(link["type"] == "smart" for card in cards for link in card.get("links", []))
    assert "I.A.1.c" not in cards[0]["detail"]


# --- every response passes the structure checker ------------------------------------------------

MIXED_ORDERS = {**ORDERS, "sr-2": ULTRASOUND_ORDERS["sr-2"]}
SCENARIOS = {  # name -> (determinations, draft orders)
    "covered": ([determination(Decision.COVERED)], ORDERS),
    "not-covered": ([determination(Decision.NOT_COVERED, changes={"I.C": NOT_MET, "I.A.1.c": DOC})], ORDERS),
    "conditional": ([NEEDS_FORM], ORDERS),
    "indeterminate": ([determination(Decision.INDETERMINATE)], ORDERS),
    "no-revision": ([determination(revision_id=None)], ORDERS),
    "ultrasound": ([ULTRASOUND], ULTRASOUND_ORDERS),
    "two-procedures": ([determination(Decision.COVERED), replace(ULTRASOUND, order_ids=("sr-2",))], MIXED_ORDERS),
}


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_built_response_passes_the_response_checker(name, hook):
    determinations, orders = SCENARIOS[name]
    actions, records = build_system_actions(
        determinations, hook=hook, orders_by_id=orders, coverage_reference="Coverage/cov-1",
        questionnaire_for=lambda revision: f"https://q.example/Questionnaire/cp-mp-171|{revision}",
        settings=WITH_APP, new_assertion_id=uuid_source(), today=date(2026, 8, 1))
    cards = build_cards(determinations, hook=hook, settings=WITH_APP, new_uuid=uuid_source(),
                        orders_by_id=orders, assertions=records)

    assert check_cds_response({"cards": cards, "systemActions": actions}, hook=hook) == []


statuses = st.sampled_from(list(Status))


@settings(max_examples=60, deadline=None)
@given(
    decision=st.sampled_from([*Decision, None]),
    changes=st.dictionaries(st.sampled_from(CRITERIA_2026), statuses, max_size=12),
    attestable=st.frozensets(st.sampled_from(CRITERIA_2026), max_size=5),
    kind=st.sampled_from(["diagnostic-block", "therapeutic-injection", "rf-initial", "pulsed-rf", "other"]),
    region=st.sampled_from(["lumbar", "cervical", "thoracic", "cervical-or-thoracic", ""]),
    hook=st.sampled_from(["order-select", "order-sign"]),
)
def test_any_determination_gives_a_response_that_passes_the_checker(decision, changes, attestable, kind, region, hook):
    det = determination(decision, changes=changes, attestable=attestable, kind=kind, region=region,
                        revision_id="2026-05" if decision else None, questionnaire="https://q.example/Q|2026-05")
    cards = build_cards([det], hook=hook, settings=WITH_APP, new_uuid=uuid_source(), orders_by_id=ORDERS)

    assert check_cds_response({"cards": cards, "systemActions": []}, hook=hook) == []


# --- ...and the checker can fail --------------------------------------------------------------

def _valid_response() -> dict:
    cards = sign_cards(ULTRASOUND, orders=ULTRASOUND_ORDERS, card_settings=WITH_APP)
    return {"cards": cards, "systemActions": []}


def _break(path_and_value):
    def mutate(body):
        *keys, last = path_and_value[0]
        target = body
        for key in keys:
            target = target[key]
        if path_and_value[1] is _DELETE:
            del target[last]
        else:
            target[last] = path_and_value[1]
    return mutate


_DELETE = object()
# card 0: Instructions (warning); card 1: alternative with a suggestion; card -1: policy link
BROKEN = {
    "long summary": (("cards", 0, "summary"), "x" * 140),
    "old indicator": (("cards", 0, "indicator"), "hard-stop"),
    "no uuid": (("cards", 0, "uuid"), _DELETE),
    "bad uuid": (("cards", 0, "uuid"), "card-1"),
    "no topic": (("cards", 0, "source", "topic"), _DELETE),
    "no label": (("cards", 0, "source", "label"), _DELETE),
    "null detail": (("cards", 0, "detail"), None),
    "detail not text": (("cards", 0, "detail"), ["a"]),
    "empty links": (("cards", 0, "links"), []),
    "no selectionBehavior": (("cards", 1, "selectionBehavior"), _DELETE),
    "selectionBehavior alone": (("cards", 0, "selectionBehavior"), "at-most-one"),
    "suggestion without uuid": (("cards", 1, "suggestions", 0, "uuid"), _DELETE),
    "suggestion without label": (("cards", 1, "suggestions", 0, "label"), _DELETE),
    "action without description": (("cards", 1, "suggestions", 0, "actions", 0, "description"), _DELETE),
    "update without resource": (("cards", 1, "suggestions", 0, "actions", 0, "resource"), _DELETE),
    "delete without resourceId": (("cards", 1, "suggestions", 0, "actions", 0, "type"), "delete"),
    "unknown action": (("cards", 1, "suggestions", 0, "actions", 0, "type"), "replace"),
    "relative link type": (("cards", -1, "links", 0, "type"), "relative"),
    "relative link url": (("cards", -1, "links", 0, "url"), "/policy.pdf"),
    "appContext on absolute": (("cards", -1, "links", 0, "appContext"), "{}"),
    "override without display": (("cards", 0, "overrideReasons", 0, "display"), _DELETE),
    "no systemActions on order-sign": (("systemActions",), _DELETE),
    "no cards": (("cards",), _DELETE),
}


@pytest.mark.parametrize("name", BROKEN)
def test_the_response_checker_rejects_broken_responses(name):
    body = _valid_response()
    assert check_cds_response(body, hook="order-sign") == []

    _break(BROKEN[name])(body)

    assert check_cds_response(body, hook="order-sign") != []


def test_the_response_checker_rejects_system_actions_on_patient_view():
    assert check_cds_response({"cards": [], "systemActions": []}, hook="patient-view") == [
        "systemActions: never on patient-view"]


def test_every_order_kind_has_words_in_the_cards_and_the_engine():
    """One list of kinds (policy.terms.OrderKind); each place that words them covers all of them."""
    from cds_service.cdshooks.presentation import _KIND_NOUNS
    from cds_service.evaluation.evaluator import KIND_WORDS
    from cds_service.policy.model import ORDER_KINDS
    from cds_service.policy.terms import OrderKind

    assert set(_KIND_NOUNS) == set(KIND_WORDS) == ORDER_KINDS == set(OrderKind)
