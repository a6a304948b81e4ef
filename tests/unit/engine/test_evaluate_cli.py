"""`python -m cds_service evaluate`: what a policy analyst runs (contract §1)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.scenarios import scenario

REPO = Path(__file__).resolve().parents[3]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cds_service", "evaluate", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture()
def files(tmp_path):
    def write(scenario_id: str) -> tuple[str, str]:
        s = scenario(scenario_id)
        record, orders = tmp_path / "record.json", tmp_path / "orders.json"
        record.write_text(json.dumps(s["record"]))
        orders.write_text(json.dumps(s["draftOrders"]))
        return str(record), str(orders)
    return write


def test_prints_the_decision_and_every_criterion(files):
    done = run(*files("dx-four-levels"))
    assert done.returncode == 0, done.stderr
    assert "revision 05/26: NOT COVERED" in done.stdout
    assert "I.A.1.d" in done.stdout and "Table 2" in done.stdout
    assert "4 levels (L2-L3, L3-L4, L4-L5, L5-S1)" in done.stdout


def test_json_output_and_revision_what_if(files):
    record, orders = files("dx-second-block-78-percent")
    current = json.loads(run(record, orders, "--json").stdout)["procedures"][0]
    older = json.loads(run(record, orders, "--json", "--revision", "2019").stdout)["procedures"][0]
    assert (current["revision"], current["decision"]) == ("2026-05", "not-covered")
    assert older["revision"] == "2019" and older["decision"] != "not-covered"
    assert {c["id"] for c in current["criteria"]} >= {"I.A.1 Note", "Table 2"}


def test_the_plans_effective_dates_apply_as_they_do_in_the_service(files, monkeypatch):
    """CDS_REVISION_EFFECTIVE (the plan's own dates) is read by `evaluate` as by `serve`: the same answer."""
    record, orders = files("dx-first-lumbar-covered")  # dated 2026-11-20
    monkeypatch.setenv("CDS_REVISION_EFFECTIVE", "2026-05=2026-12-01")
    later = json.loads(run(record, orders, "--json").stdout)["procedures"][0]
    assert later["revision"] == "2025-05"
    for bad in ("2026-05=tomorrow", "2031-01=2031-01-01"):  # not a date; not a shipped revision
        monkeypatch.setenv("CDS_REVISION_EFFECTIVE", bad)
        refused = run(record, orders)
        assert refused.returncode == 2 and "CDS_REVISION_EFFECTIVE" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_malformed_resource_is_skipped_and_named(files):
    done = run(*files("malformed-observation"), "--json")
    skipped = json.loads(done.stdout)["skippedResources"]
    assert done.returncode == 0 and [s["resource"] for s in skipped] == ["Observation/s52-obs-3"]


def test_date_is_today_when_the_order_has_none(files, tmp_path):
    record, _ = files("dx-first-lumbar-covered")
    order = scenario("dx-first-lumbar-covered")["draftOrders"]["entry"][0]["resource"]
    for field in ("occurrenceDateTime", "occurrencePeriod", "authoredOn"):
        order.pop(field, None)
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    out = json.loads(run(record, str(path), "--json", "--date", "2023-03-01").stdout)["procedures"][0]
    assert (out["dateOfService"], out["revision"]) == ("2023-03-01", "2019")


@pytest.mark.parametrize("args, message", [
    (("missing.json", "missing.json"), "no such file"),
    (("README.md", "README.md"), "not readable JSON"),
    (("pyproject.toml", "x"), "not readable JSON"),
])
def test_unusable_input_exits_2_with_one_line(args, message):
    done = run(*args)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_wrong_resource_types_exit_2(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"resourceType": "Patient", "id": "p"}))
    done = run(str(a), str(a))
    assert done.returncode == 2 and "expected a FHIR Bundle" in done.stderr


def test_unknown_revision_exits_2(files):
    done = run(*files("dx-four-levels"), "--revision", "1999")
    assert done.returncode == 2 and "unknown revision" in done.stderr


def test_one_fixture_file_holds_record_and_orders():
    """A newcomer's first try: the scenario file as fhir_fixtures/ ships it, alone."""
    path = REPO / "fhir_fixtures" / "scenarios" / "dx-four-levels.json"
    done = run(str(path), "--json")
    assert done.returncode == 0, done.stderr
    expected = json.loads(path.read_text())["expected"][0]
    procedure = json.loads(done.stdout)["procedures"][0]
    assert (procedure["revision"], procedure["decision"]) == (expected["revision"], expected["decision"])


def test_one_file_without_record_and_orders_is_refused_in_one_line(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    done = run(str(path))
    assert done.returncode == 2 and "'record' and 'draftOrders'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


SCENARIO_FILES = sorted((REPO / "fhir_fixtures" / "scenarios").glob("*.json"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_the_cli_decides_every_shipped_scenario_as_the_service_does(path, capsys):
    """The analyst's offline answer is the EHR's answer: same reference reading (urn:uuid fullUrls, contained),
    same decision per order as the scenario expects for the revision in force."""
    from cds_service.__main__ import main

    scenario_file = json.loads(path.read_text())
    assert main(["evaluate", str(path), "--json", "--date", "2026-11-20"]) == 0
    procedures = json.loads(capsys.readouterr().out)["procedures"]
    if not scenario_file["expected"]:  # nothing in scope: no determination at all
        assert procedures == []
        return
    expected = scenario_file["expected"][0]
    found = [(p["revision"], p["decision"]) for p in procedures]
    if expected["revision"] is None:  # dated before the earliest revision: no revision decides it
        assert all(revision is None for revision, _ in found), found
        return
    assert expected["decision"] in {decision for _, decision in found}, (expected, found)
