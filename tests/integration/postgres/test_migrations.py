"""Versioned schema migrations on SQLite and a real PostgreSQL: from an empty database, from the schema the
release before migrations shipped (with its rows), by several workers at once, and by the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from cds_service.settings import DatabaseUrl
from cds_service.storage import migrate
from cds_service.storage.store import AuditEntry, Store
from tests.integration.postgres import shipped_schema

ROOT = Path(__file__).resolve().parents[3]
NEWEST = ["0001_shipped-schema", "0002_audit-lookups", "0003_feedback-per-client"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cds_service", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "CDS_DATABASE_URL": url}, check=False)


def _tables(store: Store) -> set[str]:
    with store._db.session() as db:
        try:
            rows = db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
        except Exception:  # noqa: BLE001 - PostgreSQL
            rows = db.rows("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")
    return {str(r["name"]) for r in rows}


def test_an_empty_database_gets_the_newest_schema(url: str) -> None:
    assert migrate.state(DatabaseUrl.parse(url)).pending == NEWEST
    store = Store(DatabaseUrl.parse(url))
    assert store.schema.applied == NEWEST and store.schema.version == "0003"
    assert {"audit", "assertion", "refusal", "feedback", "settings", "issued_card", "audit_order"} <= _tables(store)
    store.record_audit(AuditEntry(hook="order-sign", hook_instance="h", service_id="s", client=None,
                                  patient_hash=None, status=200, duration_ms=1.0, decisions=[]), [])
    (row,) = store.recent_audit()
    assert row["at_utc"] is not None  # the UTC timestamp beside the epoch seconds
    assert Store(DatabaseUrl.parse(url)).schema.applied == NEWEST  # a second start applies nothing again


SHIPPED_ROWS = (
    "INSERT INTO settings(name, value) VALUES ('hash_key', 'old-key')",
    "INSERT INTO audit(at, hook, hook_instance, service_id, client, patient_hash, status, duration_ms, decisions,"
    " detail, request_id) VALUES (1764745500.25, 'order-sign', 'old-call', 'facet-order-sign', 'https://ehr.example',"
    " 'hash-1', 200, 12.5, '[{\"procedure\": \"MBB\", \"orders\": [\"sr-1\", \"sr-2\"], \"decision\": \"not-covered\"},"
    " {\"orders\": [\"sr-2\"], \"decision\": \"covered\"}]', '{}', 'req-1')",
    "INSERT INTO assertion(assertion_id, at, audit_id, hook_instance, patient_hash, order_ids, decision, revision,"
    " criteria) VALUES ('as-1', 1764745500.25, 1, 'old-call', 'hash-1', '[\"sr-1\"]', 'not-covered', '2026-05', '[]')",
    "INSERT INTO refusal(at, request_id, method, route, service_id, client, status, reason)"
    " VALUES (1764745501.0, 'req-2', 'POST', '/cds-services/<service_id>', NULL, NULL, 401, 'jwt-refused')",
    "INSERT INTO feedback(at, service_id, client, card, outcome, outcome_timestamp, accepted_suggestions,"
    " override_reason) VALUES (1764745600.0, 'facet-order-sign', 'https://ehr.example', 'card-1', 'overridden',"
    " '2025-12-03T07:06:40Z', NULL, '{\"reason\": {\"code\": \"x\"}}')",
)


def test_a_database_of_the_shipped_schema_keeps_its_rows(url: str) -> None:
    kind = DatabaseUrl.parse(url).kind
    shipped_schema.create(url, shipped_schema.shipped_ddl(kind), *SHIPPED_ROWS)  # the old release's database

    store = Store(DatabaseUrl.parse(url))  # the new release starting on it
    assert store.schema.applied == NEWEST
    (call,) = store.recent_audit()
    assert (call["hook_instance"], call["request_id"], call["patient_hash"]) == ("old-call", "req-1", "hash-1")
    assert call["decisions"][0]["decision"] == "not-covered"
    assert str(call["at_utc"]).startswith("2025-12-03")  # 1764745500 s is 2025-12-03 07:05 UTC
    assert store.assertion("as-1")["audit_id"] == call["id"]  # type: ignore[index]
    assert [r["reason"] for r in store.recent_refusals()] == ["jwt-refused"]
    assert store.hash_key(None) == b"old-key"
    with store._db.session() as db:  # order ids that sat in the decisions JSON became look-up rows
        orders = db.rows("SELECT order_id FROM audit_order WHERE audit_id = ? ORDER BY order_id", (call["id"],))
        (old_feedback,) = db.rows("SELECT client_key, card_issued FROM feedback")
    assert [o["order_id"] for o in orders] == ["sr-1", "sr-2"]
    assert old_feedback == {"client_key": "https://ehr.example", "card_issued": None}  # unknown: before 0003
    old_item = {"card": "card-1", "outcome": "overridden", "outcomeTimestamp": "2025-12-03T07:06:40Z"}
    assert store.record_feedback("facet-order-sign", "https://ehr.example", old_item).stored is False  # still deduped
    assert store.record_feedback("facet-order-sign", "https://other.example", old_item).stored is True
    # New rows keep numbering after the old ones.
    new_id = store.record_audit(AuditEntry(hook="order-sign", hook_instance="new", service_id="s", client=None,
                                           patient_hash=None, status=200, duration_ms=1.0, decisions=[]), [])
    assert new_id > call["id"]


def _shape(url: str) -> set[tuple[str, ...]]:
    """Every table's columns (name, type, nullability), every index and unique constraint, by name."""
    store = Store(DatabaseUrl.parse(url))
    with store._db.session() as db:
        if DatabaseUrl.parse(url).kind == "sqlite":
            tables = [r["name"] for r in db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
            shape = {("table", t, str(c["name"]), str(c["type"]), str(c["notnull"]), str(c["hidden"]))
                     for t in tables for c in db.rows(f"PRAGMA table_xinfo({t})")}
            return shape | {("index", str(r["name"]), str(r["tbl_name"])) for r in db.rows(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")}
        columns = db.rows("SELECT table_name, column_name, data_type, is_nullable, is_generated FROM"
                          " information_schema.columns WHERE table_schema = 'public'")
        indexes = db.rows("SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        return ({("table", *map(str, c.values())) for c in columns}
                | {("index", *map(str, i.values())) for i in indexes})


def test_migrating_the_shipped_schema_ends_exactly_where_an_empty_database_does(url: str, tmp_path: Path,
                                                                                 request: pytest.FixtureRequest) -> None:
    kind = DatabaseUrl.parse(url).kind
    shipped_schema.create(url, shipped_schema.shipped_ddl(kind), *SHIPPED_ROWS)
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}" if kind == "sqlite" else str(
        request.getfixturevalue("postgres_cluster").create_database("fresh_" + uuid.uuid4().hex[:8]))
    migrated, created = _shape(url), _shape(fresh)
    assert migrated == created, (sorted(migrated - created), sorted(created - migrated))


def test_workers_starting_together_migrate_once(url: str) -> None:
    kind = DatabaseUrl.parse(url).kind
    shipped_schema.create(url, shipped_schema.shipped_ddl(kind), *SHIPPED_ROWS)
    workers = [subprocess.Popen([sys.executable, "-c", "import sys; from cds_service.settings import DatabaseUrl;"
                                 " from cds_service.storage.store import Store;"
                                 " print(Store(DatabaseUrl.parse(sys.argv[1])).schema.version)", url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
               for _ in range(3)]
    results = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0] * 3, [err[-800:] for _, err in results]
    assert [out.strip() for out, _ in results] == ["0003"] * 3
    store = Store(DatabaseUrl.parse(url))
    assert len(store.recent_audit()) == 1
    with store._db.session() as db:  # the backfill ran once: one row per (order, call)
        assert db.execute("SELECT COUNT(*) FROM audit_order").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM _yoyo_migration").fetchone()[0] == len(NEWEST)


def test_the_cli_reports_and_applies_the_schema_version(url: str) -> None:
    status = _cli(url, "migrate", "--status")
    assert status.returncode == 0, status.stderr
    assert "schema version none" in status.stdout and "pending: 0001_shipped-schema" in status.stdout
    applied = _cli(url, "migrate")
    assert applied.returncode == 0, applied.stderr
    assert "schema version 0003" in applied.stdout and "pending: -" in applied.stdout


def test_the_cli_says_in_one_line_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    done = _cli("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "migrate")
    assert done.returncode == 2
    assert done.stderr.startswith("migrate: ") and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_lock_left_by_a_killed_migration_does_not_stop_the_next_start(url: str) -> None:
    database = DatabaseUrl.parse(url)
    Store(database)
    with migrate._backend_and_migrations(database)[0] as backend, backend.transaction():  # a dead process's lock row
        backend.execute("INSERT INTO yoyo_lock(locked, ctime, pid) VALUES (1, :t, 999999)",
                        {"t": datetime(2026, 1, 1)})
    assert Store(database).schema.pending == []  # started at once: the row was a dead migrator's
    done = _cli(url, "migrate", "--break-lock")  # by hand too, for a lock taken by yoyo's own command line
    assert done.returncode == 0, done.stderr
    assert "migration lock removed" in done.stdout and "schema version 0003" in done.stdout


def test_a_worker_waits_for_the_one_migrating(url: str) -> None:
    database = DatabaseUrl.parse(url)
    with migrate._exclusive(database):  # a migration in progress, elsewhere
        waiting = subprocess.Popen([sys.executable, "-c", "import sys; from cds_service.settings import DatabaseUrl;"
                                    " from cds_service.storage.store import Store;"
                                    " print(Store(DatabaseUrl.parse(sys.argv[1])).schema.version)", url],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        time.sleep(3)  # long enough for it to reach the lock (not a timing assertion: it must still be waiting)
        assert waiting.poll() is None
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and out.strip() == "0003", err[-800:]
