"""The admin console in headless Chromium against the service started as in production, on a seeded database.

Every number on the page is recomputed here from tests/support/admin_seed.py's rows and compared. The
screenshots (console, filtered, decision page) land in the test's tmp folder for review.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from tests.support import admin_seed
from tests.support.admin_seed import CLIENT_B, SEARCH_ORDER, SEARCH_PATIENT, SEED_CALLS, SEED_FEEDBACK, SEED_REFUSALS
from tests.support.service_process import start_service

pytestmark = pytest.mark.browser
TOKEN = "console-browser-token-0123456789"


@pytest.fixture(scope="module")
def console_service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("admin-console")
    admin_seed.seed(tmp / "cds.sqlite3")  # the file start_service points CDS_DATABASE_URL at
    service = start_service(tmp, extra_env={"CDS_ADMIN_TOKEN": TOKEN, "CDS_HASH_KEY": admin_seed.HASH_KEY})
    yield service
    service.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("admin-screenshots")
    print(f"admin console screenshots: {folder}")
    return folder


@pytest.fixture
def page(chromium, console_service):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{console_service.base_url}/admin")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-charts=drawn]")
    yield page
    assert errors == []  # no CSP violation, no script error
    context.close()


def _nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(pct / 100 * len(ordered)) - 1]


def _text(page, selector: str) -> str:
    return (page.text_content(selector) or "").strip()


def _cell(page, row: str, column: str) -> str:
    return _text(page, f"{row} {column}")


def test_console_numbers_match_the_seeded_database(page, shots):
    page.screenshot(path=str(shots / "console.png"), full_page=True)
    hook_refusals = [r for r in SEED_REFUSALS if not r[4].startswith("/admin")]
    assert _text(page, "#total-calls") == str(len(SEED_CALLS))
    assert _text(page, "#total-refused") == str(len(hook_refusals))
    assert _text(page, "#total-fhir-failures") == str(sum(c.technical_problem is not None for c in SEED_CALLS))
    durations = [c.duration_ms for c in SEED_CALLS]
    assert _text(page, "#latency-p50") == f"{_nearest_rank(durations, 50):.0f} ms"
    assert _text(page, "#latency-p95") == f"{_nearest_rank(durations, 95):.0f} ms"

    by_revision = Counter((c.revision, c.decision) for c in SEED_CALLS)
    for (revision, decision), n in by_revision.items():
        assert _cell(page, f'#by-revision tr[data-revision="{revision}"]', f'td[data-decision="{decision}"]') == str(n)
    assert "CP.MP.171 05/26" in _text(page, "#by-revision")

    not_met = Counter((c.revision, cid) for c in SEED_CALLS for cid in c.not_met)
    docs = Counter((c.revision, cid) for c in SEED_CALLS for cid in c.needs_documentation)
    for key in set(not_met) | set(docs):
        row = f'#by-criterion tr[data-criterion="{key[0]}|{key[1]}"]'
        assert _cell(page, row, 'td[data-kind="notMet"]') == str(not_met[key])
        assert _cell(page, row, 'td[data-kind="needsDocumentation"]') == str(docs[key])
    # the criterion most often open comes first
    top = max(set(not_met) | set(docs), key=lambda k: not_met[k] + docs[k])
    assert page.get_attribute("#by-criterion tbody tr:first-child", "data-criterion") == f"{top[0]}|{top[1]}"

    b_calls = [c for c in SEED_CALLS if c.client == CLIENT_B]
    assert _cell(page, f'#clients tr[data-client="{CLIENT_B}"]', "td:nth-child(2)") == str(len(b_calls))
    assert _cell(page, f'#clients tr[data-client="{CLIENT_B}"]', "td:nth-child(3)") == str(
        sum(r[1] == CLIENT_B for r in hook_refusals))
    for server in (admin_seed.FHIR_A, admin_seed.FHIR_B):
        failures = sum(c.fhir_server == server and c.technical_problem is not None for c in SEED_CALLS)
        assert _cell(page, f'#fhir-servers tr[data-server="{server}"]', 'td[data-kind="failures"]') == str(failures)
    assert "Condition: timed out after 3.0 s (3)" in _text(page, "#fhir-servers")  # what failed, how often


def test_feedback_rates_are_joined_to_the_cards_they_answer(page, console_service):
    if not admin_seed.stores_issued_cards(console_service.log_path.parent / "cds.sqlite3"):
        pytest.skip("this schema stores no issued card uuids (before migration 0002): feedback is not linked")
    linked = [(SEED_CALLS[i], outcome, reason) for i, outcome, reason in SEED_FEEDBACK if i is not None]
    accepted = sum(outcome == "accepted" for _, outcome, _ in linked)
    summary = _text(page, "#feedback-summary")
    assert summary.startswith(f"{len(linked)} feedback items: {accepted} accepted ({round(100 * accepted / len(linked))}%)")
    assert "1 about cards this service never issued" in summary
    for decision in {call.decision for call, _, _ in linked}:
        mine = [outcome for call, outcome, _ in linked if call.decision == decision]
        row = f'#feedback-by-decision tr[data-decision="{decision}"]'
        assert _cell(page, row, "td:nth-child(2)") == str(mine.count("accepted"))
        assert _cell(page, row, "td:nth-child(3)") == str(mine.count("overridden"))
    reasons = _text(page, "#override-reasons")
    assert re.search(r"Patient declined\s*2", reasons) and re.search(r"Clinician disagrees\s*1", reasons)
    assert "free text never shown" not in page.content()


def test_the_export_link_downloads_the_chosen_range(page, console_service):
    if page.locator("#export-csv").count() == 0:
        pytest.skip("this build has no audit export endpoint")
    href = page.get_attribute("#export-csv", "href")
    assert re.fullmatch(r"/admin/api/audit/export\?from=\d{4}-\d\d-\d\d&to=\d{4}-\d\d-\d\d&format=csv", href)
    with page.expect_download() as download:
        page.click("#export-csv")
    exported = download.value.path().read_text()
    assert len([line for line in exported.splitlines() if "order-s" in line]) >= len(SEED_CALLS)


def test_filters_and_pagination(page, console_service, shots):
    hook_refusals = [r for r in SEED_REFUSALS if not r[4].startswith("/admin")]
    assert _text(page, "#calls-total") == str(len(SEED_CALLS) + len(hook_refusals))
    assert _text(page, "#page-of") == "page 1 of 2"
    assert page.locator("#calls tbody tr").count() == 25
    page.click("a[rel=next]")
    assert _text(page, "#page-of") == "page 2 of 2"
    assert page.locator("#calls tbody tr").count() == len(SEED_CALLS) + len(hook_refusals) - 25

    page.select_option("select[name=decision]", "not-covered")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("body[data-charts=drawn]")
    not_covered = [c for c in SEED_CALLS if c.decision == "not-covered"]
    assert _text(page, "#total-calls") == str(len(not_covered))
    assert _text(page, "#total-refused") == "0"  # a refused call has no decision
    assert _text(page, "#calls-total") == str(len(not_covered))
    assert {_text(page, f"#calls tbody tr:nth-child({n}) td.decision") for n in range(1, len(not_covered) + 1)} == {"not-covered"}
    page.screenshot(path=str(shots / "filtered.png"), full_page=True)
    if admin_seed.stores_issued_cards(console_service.log_path.parent / "cds.sqlite3"):
        on_not_covered = [o for i, o, _ in SEED_FEEDBACK if i is not None and SEED_CALLS[i].decision == "not-covered"]
        assert _text(page, "#feedback-summary").startswith(f"{len(on_not_covered)} feedback items: 0 accepted")

    page.goto(f"{console_service.base_url}/admin?client={CLIENT_B}&hook=order-sign")
    page.wait_for_selector("body[data-charts=drawn]")
    assert _text(page, "#total-calls") == str(sum(c.client == CLIENT_B and c.hook == "order-sign" for c in SEED_CALLS))


def test_search_by_patient_order_and_assertion_then_the_decision_page(page, console_service, shots):
    page.select_option("#search select[name=kind]", "patient")
    page.fill("#search input[name=q]", SEARCH_PATIENT)
    page.click("#search button[type=submit]")
    page.wait_for_selector("body[data-charts=drawn]")
    assert SEARCH_PATIENT not in page.url  # posted, hashed by the service: never in a URL or access log
    assert _text(page, "#calls-total") == str(sum(c.patient == SEARCH_PATIENT for c in SEED_CALLS))
    assert SEARCH_PATIENT not in console_service.log()

    page.select_option("#search select[name=kind]", "order")
    page.fill("#search input[name=q]", SEARCH_ORDER)
    page.click("#search button[type=submit]")
    page.wait_for_selector("body[data-charts=drawn]")
    assert _text(page, "#calls-total") == "1"

    page.select_option("#search select[name=kind]", "hookInstance")
    page.fill("#search input[name=q]", SEED_CALLS[3].hook_instance)
    page.click("#search button[type=submit]")
    page.wait_for_selector("body[data-charts=drawn]")
    assert _text(page, "#calls-total") == "1"
    assert "hookInstance" in _text(page, "#search-active")

    page.select_option("#search select[name=kind]", "order")
    page.fill("#search input[name=q]", "not an id!")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#message")
    assert _text(page, "#message") == "That search term is not valid."

    call = next(c for c in SEED_CALLS if c.decision == "not-covered" and c.hook == "order-sign")
    page.select_option("#search select[name=kind]", "assertion")
    page.fill("#search input[name=q]", call.assertion_id)
    page.click("#search button[type=submit]")
    page.wait_for_selector("#story")
    page.screenshot(path=str(shots / "decision.png"), full_page=True)
    assert _text(page, "#decision-1") == "not covered"
    assert "CP.MP.171 05/26" in _text(page, "section.procedure")
    [criterion] = call.not_met
    row = f'#criteria-1 tr[data-criterion="{criterion}"]'
    assert _cell(page, row, "td.result") == "not met"
    assert "at most 2 are covered" in _text(page, row)
    assert f"ServiceRequest/{call.order_id}" in _text(page, row)
    assert page.locator("#criteria-1 tbody tr").count() == len(admin_seed.criteria_of(call))
    assert _text(page, ".assertion-id") == call.assertion_id
    if admin_seed.stores_issued_cards(console_service.log_path.parent / "cds.sqlite3"):
        assert _text(page, "#cards-issued") == call.card_uuid
        mine = [(outcome, reason) for i, outcome, reason in SEED_FEEDBACK if i == call.index]
        assert page.locator("#call-feedback tbody tr").count() == len(mine) > 0
        assert mine[0][1]["reason"]["display"] in _text(page, "#call-feedback")

    page.click("#sign-out")
    page.wait_for_selector("input[name=token]")
    page.goto(f"{console_service.base_url}/admin")
    assert page.locator("input[name=token]").count() == 1  # signed out: the sign-in form again
