"""Retention and export over real storage (SQLite and PostgreSQL), in process and by the CLI."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cds_service.settings import DatabaseUrl
from cds_service.storage import export, retention
from cds_service.storage.store import AuditEntry, Store

ROOT = Path(__file__).resolve().parents[3]
DAY = 86400.0
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def _call(store: Store, instance: str, at: float, *, patient: str = "hash-p", cards: tuple[str, ...] = ()) -> int:
    audit_id = store.record_audit(
        AuditEntry("order-sign", instance, "facet-order-sign", "https://ehr.example", patient, 200, 12.34,
                   [{"procedure": "MBB", "orders": ["sr-raw-1"], "revision": "2026-05", "decision": "not-covered",
                     "notMet": ["I.A.1.d"], "needsDocumentation": []}], request_id=f"req-{instance}",
                   card_uuids=cards),
        [{"assertion_id": f"as-{instance}", "order_ids": ["sr-raw-1"], "decision": "not-covered",
          "revision": "2026-05", "criteria": []}])
    _age(store, audit_id, at)
    return audit_id


def _age(store: Store, audit_id: int, at: float) -> None:
    with store._db.session() as db:
        db.execute("UPDATE audit SET at = ? WHERE id = ?", (at, audit_id))
        db.execute("UPDATE assertion SET at = ? WHERE audit_id = ?", (at, audit_id))
        db.execute("UPDATE issued_card SET at = ? WHERE audit_id = ?", (at, audit_id))


def _count(store: Store, table: str) -> int:
    with store._db.session() as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _seed_for_retention(store: Store) -> None:
    _call(store, "old", NOW - 400 * DAY, cards=("card-old",))
    _call(store, "new", NOW - 10 * DAY, cards=("card-new",))
    store.record_refusal(method="POST", route="-", service_id=None, client=None, status=404, reason="no-such-route")
    store.record_feedback("facet-order-sign", "https://ehr.example",
                          {"card": "card-old", "outcome": "accepted", "outcomeTimestamp": "t", "acceptedSuggestions": []})
    with store._db.session() as db:
        db.execute("UPDATE refusal SET at = ?", (NOW - 400 * DAY,))
        db.execute("UPDATE feedback SET at = ?", (NOW - 399 * DAY,))


def test_the_purge_deletes_what_is_past_retention_and_nothing_else(url: str) -> None:
    store = Store(DatabaseUrl.parse(url))
    _seed_for_retention(store)
    deleted = retention.purge(store, 365, now=NOW)
    assert deleted == {"audit": 1, "assertion": 1, "refusal": 1, "feedback": 1}
    assert [r["hook_instance"] for r in store.recent_audit()] == ["new"]
    assert store.assertion("as-old") is None and store.assertion("as-new") is not None
    with store._db.session() as db:
        assert [r["card_uuid"] for r in db.rows("SELECT card_uuid FROM issued_card")] == ["card-new"]
        assert _count(store, "audit_order") == 1  # the new call's order row; the old call's went with it
    assert retention.purge(store, 365, now=NOW) == {"audit": 0, "assertion": 0, "refusal": 0, "feedback": 0}
    assert retention.purge(store, 0, now=NOW) == {}  # 0: keep forever


def test_a_large_backlog_is_purged_in_batches(url: str) -> None:
    store = Store(DatabaseUrl.parse(url))
    for index in range(25):
        _call(store, f"old-{index}", NOW - 400 * DAY, cards=(f"c-{index}",))
    assert store.purge_before(NOW - 365 * DAY, batch=7)["audit"] == 25
    assert _count(store, "audit") == 0 and _count(store, "issued_card") == 0 and _count(store, "audit_order") == 0


def test_one_worker_of_the_deployment_purges_each_period(url: str) -> None:
    workers = [Store(DatabaseUrl.parse(url)) for _ in range(3)]  # three processes' stores on one database
    _seed_for_retention(workers[0])
    results = [retention.purge_if_due(w, 365, now=NOW) for w in workers]
    assert [r is not None for r in results] == [True, False, False]
    assert results[0] and results[0]["audit"] == 1
    later = NOW + retention.PURGE_EVERY_S + 1
    assert retention.purge_if_due(workers[2], 365, now=later) is not None  # the next period: someone purges again


def test_the_background_purger_runs_at_start_up(url: str) -> None:
    store = Store(DatabaseUrl.parse(url))
    _call(store, "ancient", time.time() - 800 * DAY)
    _call(store, "recent", time.time() - DAY)
    assert retention.start_purger(store, 0) is None  # keep forever: no thread at all
    thread = retention.start_purger(store, 365)
    assert thread is not None and thread.daemon
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(store.recent_audit()) != 1:
        time.sleep(0.1)
    assert [r["hook_instance"] for r in store.recent_audit()] == ["recent"]


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cds_service", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "CDS_DATABASE_URL": url, "CDS_AUDIT_RETENTION_DAYS": "365"},
                          check=False)


def test_purge_audit_on_the_command_line(url: str) -> None:
    store = Store(DatabaseUrl.parse(url))
    _call(store, "old", time.time() - 400 * DAY)
    _call(store, "new", time.time() - DAY)
    done = _cli(url, "purge-audit")
    assert done.returncode == 0, done.stderr
    assert "older than 365 days: 1 audit, 1 assertion" in done.stdout
    assert [r["hook_instance"] for r in store.recent_audit()] == ["new"]
    assert "older than 1 days: 1 audit" in _cli(url, "purge-audit", "--days", "1").stdout  # "new" was a day old


def _seed_for_export(store: Store) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    _call(store, "before", day - 1)  # 2026-11-19 23:59:59 UTC: outside
    _call(store, "first", day + 5, cards=("card-b", "card-a"))
    _call(store, "last", day + 2 * DAY - 0.5)  # 2026-11-21 23:59:59.5: inside (the last day is included)
    _call(store, "after", day + 2 * DAY)  # 2026-11-22 00:00: outside
    store.record_refusal(method="POST", route="/cds-services/<service_id>", service_id=None, client=None,
                         status=401, reason="jwt-refused")
    store.record_feedback("facet-order-sign", "https://ehr.example", {
        "card": "card-a", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T00:03:00Z",
        "overrideReason": {"reason": {"code": "patient-declined"}, "userComment": "free text about Jane Doe"}})
    with store._db.session() as db:
        db.execute("UPDATE refusal SET at = ?", (day + 60,))
        db.execute("UPDATE feedback SET at = ?", (day + 180,))


def test_the_export_of_a_date_range_in_both_formats(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE", 2)  # several pages, as a long range would be read
    store = Store(DatabaseUrl.parse(url))
    _seed_for_export(store)
    lines = [json.loads(line) for line in "".join(
        export.export(store, date(2026, 11, 20), date(2026, 11, 21), "ndjson")).splitlines()]
    assert [(r["kind"], r["hook_instance"]) for r in lines] == [
        ("call", "first"), ("refusal", None), ("feedback", None), ("call", "last")]
    first = lines[0]
    assert first["at"] == "2026-11-20T00:00:05.000Z" and first["request_id"] == "req-first"
    assert first["card_uuids"] == ["card-a", "card-b"] and first["assertion_ids"] == ["as-first"]
    assert first["decisions"] == [{"procedure": "MBB", "revision": "2026-05", "decision": "not-covered",
                                   "notMet": ["I.A.1.d"], "needsDocumentation": []}]
    assert lines[1]["reason"] == "jwt-refused" and lines[1]["status"] == 401
    feedback = lines[2]
    assert (feedback["card_uuids"], feedback["outcome"], feedback["override_reason"], feedback["card_issued"]) == (
        ["card-a"], "overridden", "patient-declined", True)
    text = "".join(export.export(store, date(2026, 11, 20), date(2026, 11, 21), "csv"))
    assert "sr-raw-1" not in text and "Jane Doe" not in text  # no raw order ids, no clinician free text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["hook_instance"] for r in rows] == ["first", "", "", "last"]
    assert rows[0]["card_uuids"] == "card-a card-b" and rows[0]["patient_hash"] == "hash-p"
    assert json.loads(rows[0]["decisions"])[0]["decision"] == "not-covered"


def test_a_formula_in_client_text_is_not_run_by_a_spreadsheet(url: str) -> None:
    store = Store(DatabaseUrl.parse(url))
    audit_id = _call(store, "=HYPERLINK(\"http://x\")", NOW)
    assert audit_id
    text = "".join(export.export(store, date(2026, 12, 3), date(2026, 12, 3), "csv"))
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["hook_instance"] == "'=HYPERLINK(\"http://x\")"


def test_export_audit_on_the_command_line(url: str, tmp_path: Path) -> None:
    _seed_for_export(Store(DatabaseUrl.parse(url)))
    out = tmp_path / "audit.ndjson"
    done = _cli(url, "export-audit", "--from", "2026-11-20", "--to", "2026-11-21", "--format", "ndjson", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["kind"] for line in out.read_text().splitlines()] == ["call", "refusal", "feedback", "call"]
    csv_out = _cli(url, "export-audit", "--from", "2026-11-20", "--to", "2026-11-20")
    assert csv_out.stdout.splitlines()[0].startswith("kind,id,at,request_id")
    assert len(csv_out.stdout.splitlines()) == 4
