"""Coverage-information system actions as an EHR applies them, and the q1–q9 checker."""
from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cdshooks.coverage_info import AssertionRecord, build_system_actions, check_coverage_information
from cds_service.evaluation.results import Decision, Status
from cds_service.policy.conventions import COVERAGE_INFORMATION_URL, CRD_COVERAGE_DETAIL, CRD_TEMP_CODES
from tests.support.response_checks import check_cds_response
from tests.unit.cdshooks import CRITERIA_2026, POLICY_URL, SETTINGS, determination, service_request, uuid_source

NOT_MET, DOC = Status.NOT_MET, Status.DOCUMENTATION
TODAY = date(2026, 8, 1)
ORDERS = {
    "sr-1": service_request("sr-1", "64493", body_sites=("L4-L5",)),
    "sr-2": service_request("sr-2", "64494", body_sites=("L5-S1",)),
    "sr-9": service_request("sr-9", "64635"),
}
TWO_LEVELS = {"order_ids": ("sr-1", "sr-2"), "codes": ("64493", "64494"), "levels": ("L4-L5", "L5-S1")}


def questionnaire_for(revision_id: str) -> str:
    return f"https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|{revision_id}"


def system_actions(*determinations, hook="order-sign", coverage="Coverage/cov-1", card_settings=SETTINGS,
                   orders=ORDERS, new_assertion_id=None):
    return build_system_actions(
        determinations, hook=hook, orders_by_id=orders, coverage_reference=coverage,
        questionnaire_for=questionnaire_for, settings=card_settings,
        new_assertion_id=new_assertion_id or uuid_source(), today=TODAY)


def coverage_information(action: dict) -> dict:
    (extension,) = [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION_URL]
    return extension


def values(extension: dict, url: str) -> list:
    """The values of one sub-extension, whatever their type."""
    return [next(v for k, v in part.items() if k.startswith("value")) for part in extension["extension"]
            if part["url"] == url]


def sub_urls(extension: dict) -> set[str]:
    return {part["url"] for part in extension["extension"]}


def reason_texts(extension: dict) -> list[str]:
    return [concept["text"] for concept in values(extension, "reason")]


# --- what goes into the extension -------------------------------------------------------------

def test_covered_order_gets_covered_and_pa_needed_and_nothing_to_do():
    (action,), _ = system_actions(determination(Decision.COVERED))
    extension = coverage_information(action)

    assert values(extension, "coverage") == [{"reference": "Coverage/cov-1"}]
    assert values(extension, "covered") == ["covered"]
    assert values(extension, "pa-needed") == ["auth-needed"]
    assert sub_urls(extension).isdisjoint({"doc-needed", "doc-purpose", "info-needed", "questionnaire", "reason"})
    assert values(extension, "date") == ["2026-08-01"]
    assert values(extension, "coverage-assertion-id") == ["00000000-0000-4000-8000-000000000001"]
    assert check_coverage_information(extension) == []


def test_policy_link_detail_points_at_the_policy():
    (action,), _ = system_actions(determination(Decision.COVERED))

    (detail,) = [p for p in coverage_information(action)["extension"] if p["url"] == "detail"]

    assert detail["extension"] == [
        {"url": "category", "valueCode": "cat-other"},
        {"url": "code", "valueCodeableConcept": {
            "coding": [{"system": CRD_COVERAGE_DETAIL, "code": "policy-link", "display": "Policy link"}]}},
        {"url": "value", "valueUrl": POLICY_URL},
    ]


def test_not_covered_has_no_pa_needed_and_one_reason_per_problem_criterion():
    det = determination(Decision.NOT_COVERED, changes={"I.A.1.e": NOT_MET, "I.A.1.c": DOC})

    (action,), _ = system_actions(det)
    extension = coverage_information(action)

    assert values(extension, "covered") == ["not-covered"]
    assert "pa-needed" not in sub_urls(extension)
    assert reason_texts(extension) == [
        "I.A.1.e: not met — reason for I.A.1.e", "I.A.1.c: needs documentation — reason for I.A.1.c"]
    assert check_coverage_information(extension) == []


@pytest.mark.parametrize(("pa_needed", "purpose"), [("auth-needed", "withpa"), ("no-auth", "withorder")])
def test_missing_attestations_ask_for_clinical_documentation_with_the_revisions_form(pa_needed, purpose):
    det = determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC, "I.A.1.f": DOC},
                        attestable=frozenset({"I.A.1.c"}))

    (action,), (record,) = system_actions(det, card_settings=replace(SETTINGS, pa_needed=pa_needed))
    extension = coverage_information(action)

    assert values(extension, "covered") == ["conditional"]
    assert values(extension, "pa-needed") == [pa_needed]
    assert values(extension, "doc-needed") == ["clinical"]
    assert values(extension, "doc-purpose") == [purpose]
    assert values(extension, "questionnaire") == [questionnaire_for("2026-05")]
    assert values(extension, "info-needed") == ["OTH"]
    assert [text.split(":")[0] for text in reason_texts(extension)] == ["I.A.1.c", "I.A.1.f"]
    assert record.questionnaire == questionnaire_for("2026-05")
    assert check_coverage_information(extension) == []


def test_conditional_without_attestable_criteria_asks_for_no_form():
    det = determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC})

    (action,), _ = system_actions(det)
    extension = coverage_information(action)

    assert sub_urls(extension).isdisjoint({"doc-needed", "doc-purpose", "questionnaire"})
    assert values(extension, "info-needed") == ["OTH"]
    assert reason_texts(extension) == ["I.A.1.c: needs documentation — reason for I.A.1.c"]


def test_order_select_never_asks_for_documentation():
    det = determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC}, attestable=frozenset({"I.A.1.c"}))

    (action,), (record,) = system_actions(det, hook="order-select")
    extension = coverage_information(action)

    assert sub_urls(extension).isdisjoint({"doc-needed", "doc-purpose", "questionnaire"})
    assert record.questionnaire is None
    assert check_coverage_information(extension) == []


def test_indeterminate_gives_a_technical_reason_without_the_technical_detail():
    det = replace(determination(Decision.INDETERMINATE), technical_problem="HTTP 503 from https://ehr.example/fhir")

    (action,), _ = system_actions(det)
    extension = coverage_information(action)
    (reason,) = values(extension, "reason")

    assert values(extension, "covered") == ["indeterminate"]
    assert reason["coding"] == [{"system": CRD_TEMP_CODES, "code": "technical", "display": "Technical problem"}]
    assert reason["text"] and "503" not in str(extension)
    assert check_coverage_information(extension) == []


# --- which orders, which ids ---------------------------------------------------------------------

def test_each_order_of_a_procedure_gets_its_own_update_with_one_shared_assertion_id():
    lumbar = determination(Decision.COVERED, **TWO_LEVELS)
    rf = determination(Decision.COVERED, order_ids=("sr-9",), kind="rf-initial", codes=("64635",))

    actions, records = system_actions(lumbar, rf)

    assert [(a["type"], a["resource"]["id"]) for a in actions] == [
        ("update", "sr-1"), ("update", "sr-2"), ("update", "sr-9")]
    ids = [values(coverage_information(a), "coverage-assertion-id")[0] for a in actions]
    assert ids[0] == ids[1] != ids[2]
    assert [r.assertion_id for r in records] == [ids[0], ids[2]]
    assert all(a["description"] for a in actions)


def test_a_new_call_gets_new_assertion_ids():
    source = uuid_source()
    det = determination(Decision.COVERED)

    first, _ = system_actions(det, new_assertion_id=source)
    second, _ = system_actions(det, new_assertion_id=source)

    assert values(coverage_information(first[0]), "coverage-assertion-id") != values(
        coverage_information(second[0]), "coverage-assertion-id")


def test_the_audit_record_says_what_was_asserted():
    det = determination(Decision.NOT_COVERED, changes={"I.A.1.e": NOT_MET}, **TWO_LEVELS)

    _, (record,) = system_actions(det, new_assertion_id=lambda: "assert-7")

    assert record == AssertionRecord(
        assertion_id="assert-7", order_ids=("sr-1", "sr-2"), decision=Decision.NOT_COVERED, revision_id="2026-05",
        criteria=tuple((i, "not-met" if i == "I.A.1.e" else "met") for i in CRITERIA_2026))


def test_no_coverage_means_no_system_actions():
    assert system_actions(determination(Decision.COVERED), coverage=None) == ([], [])


def test_no_revision_for_the_date_means_no_system_action():
    assert system_actions(determination(revision_id=None)) == ([], [])


def test_orders_not_in_the_draft_orders_are_skipped():
    det = determination(Decision.COVERED, order_ids=("sr-1", "sr-404"))

    actions, (record,) = system_actions(det)

    assert [a["resource"]["id"] for a in actions] == ["sr-1"]
    assert record.order_ids == ("sr-1",)


# --- the order is otherwise unchanged -------------------------------------------------------------

OTHER_PAYER = {"url": COVERAGE_INFORMATION_URL, "extension": [
    {"url": "coverage", "valueReference": {"reference": "Coverage/other-plan"}},
    {"url": "covered", "valueCode": "covered"}]}
EARLIER_OURS = {"url": COVERAGE_INFORMATION_URL, "extension": [
    {"url": "coverage", "valueReference": {"reference": "Coverage/cov-1"}},
    {"url": "covered", "valueCode": "conditional"}]}
UNRELATED = {"url": "http://example.org/fhir/StructureDefinition/ordering-workstation", "valueString": "OR-3"}


def test_the_update_changes_nothing_but_the_coverage_information():
    order = service_request("sr-1", "64493", body_sites=("L4-L5",), quantity=1)

    (action,), _ = system_actions(determination(Decision.COVERED), orders={"sr-1": order})

    assert {k: v for k, v in action["resource"].items() if k != "extension"} == order
    assert [e["url"] for e in action["resource"]["extension"]] == [COVERAGE_INFORMATION_URL]


def test_our_earlier_assertion_for_the_same_coverage_is_replaced_and_others_are_kept():
    order = {**service_request("sr-1", "64493"), "extension": [UNRELATED, EARLIER_OURS, OTHER_PAYER]}
    untouched = copy.deepcopy(order)

    (action,), _ = system_actions(determination(Decision.COVERED), orders={"sr-1": order})
    extensions = action["resource"]["extension"]

    assert extensions[0] == UNRELATED and extensions[2] == OTHER_PAYER
    assert values(extensions[1], "covered") == ["covered"] and "date" in sub_urls(extensions[1])
    assert len(extensions) == 3
    assert order == untouched  # the caller's draft order is not modified


# --- invariants by construction, and the checker ---------------------------------------------

@settings(max_examples=80, deadline=None)
@given(
    decision=st.sampled_from(list(Decision)),
    changes=st.dictionaries(st.sampled_from(CRITERIA_2026), st.sampled_from(list(Status)), max_size=10),
    attestable=st.frozensets(st.sampled_from(CRITERIA_2026), max_size=5),
    hook=st.sampled_from(["order-select", "order-sign"]),
    pa_needed=st.sampled_from(["auth-needed", "no-auth"]),
)
def test_every_extension_built_satisfies_q1_to_q9(decision, changes, attestable, hook, pa_needed):
    det = determination(decision, changes=changes, attestable=attestable, **TWO_LEVELS)

    actions, _ = system_actions(det, hook=hook, card_settings=replace(SETTINGS, pa_needed=pa_needed))

    assert all(check_coverage_information(coverage_information(a)) == [] for a in actions)
    assert check_cds_response({"cards": [], "systemActions": actions}, hook=hook) == []


def _valid_extension() -> dict:
    det = determination(Decision.CONDITIONAL, changes={"I.A.1.c": DOC}, attestable=frozenset({"I.A.1.c"}))
    (action,), _ = system_actions(det)
    return coverage_information(action)


def _without(extension: dict, *urls: str) -> dict:
    return {**extension, "extension": [p for p in extension["extension"] if p["url"] not in urls]}


def _with(extension: dict, *parts: dict) -> dict:
    return {**extension, "extension": [*extension["extension"], *parts]}


def _set(extension: dict, url: str, code: str) -> dict:
    return {**extension, "extension": [{**p, "valueCode": code} if p["url"] == url else p
                                       for p in extension["extension"]]}


BROKEN = {  # name -> (breakage, the start of the message expected)
    "q1": (lambda e: _without(e, "doc-needed"), "q1"),
    "q2": (lambda e: _set(e, "covered", "not-covered"), "q2"),
    "q3 missing info-needed": (lambda e: _without(e, "info-needed"), "q3"),
    "q3 info-needed when nothing is conditional": (lambda e: _set(e, "covered", "covered"), "q3"),
    "q4": (lambda e: _set(e, "pa-needed", "no-auth"), "q4"),
    "q5": (lambda e: _with(e, {"url": "satisfied-pa-id", "valueString": "PA-1"}), "q5"),
    "q6": (lambda e: _without(_set(e, "doc-purpose", "withorder"), "reason", "doc-purpose"), "q6"),
    "q7": (lambda e: _with(e, {"url": "reason", "valueCodeableConcept": {
        "coding": [{"system": "http://example.org/local", "code": "x"}]}}), "q7"),
    "q8": (lambda e: _without(_set(e, "covered", "covered"), "reason", "info-needed"), "q8"),
    "q9": (lambda e: _without(_without(_set(_set(e, "covered", "indeterminate"), "pa-needed", "auth-needed"),
                                       "info-needed"), "reason", "doc-purpose", "doc-needed", "questionnaire"),
           "q9"),
    "missing date": (lambda e: _without(e, "date"), "date"),
    "bad date": (lambda e: _with(_without(e, "date"), {"url": "date", "valueDate": "2026-13-01"}), "date"),
    "two covered": (lambda e: _with(e, {"url": "covered", "valueCode": "covered"}), "covered"),
    "unknown code": (lambda e: _set(e, "doc-needed", "both"), "doc-needed"),
    "unknown sub-extension": (lambda e: _with(e, {"url": "verdict", "valueCode": "yes"}), "unknown"),
    "no assertion id": (lambda e: _without(e, "coverage-assertion-id"), "coverage-assertion-id"),
    "detail without category": (lambda e: _with(_without(e, "detail"), {"url": "detail", "extension": [
        {"url": "code", "valueCodeableConcept": {"text": "policy"}}, {"url": "value", "valueUrl": POLICY_URL}]}),
        "detail"),
    "wrong url": (lambda e: {**e, "url": "http://example.org/coverage"}, "url"),
}


def test_the_extension_used_for_breaking_is_valid():
    assert check_coverage_information(_valid_extension()) == []


@pytest.mark.parametrize("name", BROKEN)
def test_the_checker_finds_each_broken_rule(name):
    breakage, expected = BROKEN[name]

    problems = check_coverage_information(breakage(_valid_extension()))

    assert any(problem.startswith(expected) for problem in problems), problems


def test_the_response_checker_reports_broken_coverage_information():
    (action,), _ = system_actions(determination(Decision.NOT_COVERED, changes={"I.C": NOT_MET}))
    action["resource"]["extension"][0]["extension"].append({"url": "pa-needed", "valueCode": "auth-needed"})

    problems = check_cds_response({"cards": [], "systemActions": [action]}, hook="order-sign")

    assert problems == ["systemActions[0].resource.extension[0]: q2: pa-needed present although covered = not-covered"]
