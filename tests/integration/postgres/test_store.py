"""The Store's contract, held by both backends: SQLite (the default) and a real PostgreSQL."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from cds_service.settings import DatabaseUrl
from cds_service.storage.store import AuditEntry, Store
from tests.integration.postgres import shipped_schema

OpenStore = Callable[[], Store]  # opens the test's database again, as another worker would


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return lambda: Store(DatabaseUrl.parse(url))


def _entry(hook_instance: str = "hook-1") -> AuditEntry:
    return AuditEntry(hook="order-sign", hook_instance=hook_instance, service_id="facet-order-sign",
                      client="https://ehr.test.example", patient_hash="abc123", status=200, duration_ms=12.5,
                      decisions=[{"decision": "not-covered", "notMet": ["I.A.1.d"]}],
                      detail={"fetchedKeys": ["conditions"]})


def _assertion(assertion_id: str, decision: str | None = "not-covered") -> dict:
    return {"assertion_id": assertion_id, "order_ids": ["sr-1", "sr-2"], "decision": decision,
            "revision": "2026-05", "criteria": [{"id": "I.A.1.d", "result": "not-met"}]}


def _feedback(outcome_timestamp: str = "2026-11-20T10:00:00Z") -> dict:
    return {"card": "card-1", "outcome": "overridden", "outcomeTimestamp": outcome_timestamp,
            "overrideReason": {"reason": {"code": "patient-refused"}}}


def test_an_audited_call_and_its_assertions_read_back(open_store: OpenStore) -> None:
    store = open_store()
    audit_id = store.record_audit(_entry(), [_assertion("a-1"), _assertion("a-2", "covered")])
    (audited,) = store.recent_audit()
    assert audited["id"] == audit_id
    assert audited["hook_instance"] == "hook-1" and audited["duration_ms"] == 12.5
    assert audited["decisions"] == [{"decision": "not-covered", "notMet": ["I.A.1.d"]}]
    assert audited["detail"] == {"fetchedKeys": ["conditions"]}
    found = store.assertion("a-2")
    assert found is not None
    assert found["audit_id"] == audit_id and found["decision"] == "covered"
    assert found["order_ids"] == ["sr-1", "sr-2"]
    assert found["criteria"] == [{"id": "I.A.1.d", "result": "not-met"}]
    assert store.assertion("never-issued") is None


def test_recent_audit_is_newest_first_and_limited(open_store: OpenStore) -> None:
    store = open_store()
    for index in range(3):
        store.record_audit(_entry(f"hook-{index}"), [])
    assert [row["hook_instance"] for row in store.recent_audit(limit=2)] == ["hook-2", "hook-1"]


def test_a_call_is_audited_with_all_its_assertions_or_not_at_all(open_store: OpenStore) -> None:
    store = open_store()
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.NotNullViolation)):  # the 2nd assertion breaks NOT NULL
        store.record_audit(_entry(), [_assertion("a-1"), _assertion("a-2", decision=None)])
    assert store.recent_audit() == []
    assert store.assertion("a-1") is None


def test_feedback_is_stored_once_per_client(open_store: OpenStore) -> None:
    store = open_store()
    assert store.record_feedback("facet-order-sign", "client", _feedback()).stored is True
    assert store.record_feedback("facet-order-sign", "client", _feedback()).stored is False  # a client's retry
    assert store.record_feedback("facet-order-sign", "client", _feedback("2026-11-20T10:05:00Z")).stored is True
    # The same item from another client is that client's feedback: it cannot be suppressed by the first.
    assert store.record_feedback("facet-order-sign", "other-client", _feedback()).stored is True
    assert store.record_feedback("facet-order-sign", None, _feedback()).stored is True  # CDS_AUTH=off
    assert store.record_feedback("facet-order-sign", None, _feedback()).stored is False
    assert open_store().feedback_count() == 4


def test_issued_cards_are_kept_with_their_call_and_tell_feedback_apart(open_store: OpenStore) -> None:
    store = open_store()
    entry = AuditEntry(**{**_entry().__dict__, "card_uuids": ("card-1", "card-2")})
    audit_id = store.record_audit(entry, [])
    assert store.issued_cards(audit_id) == ["card-1", "card-2"]
    assert store.record_feedback("facet-order-sign", "https://ehr.test.example", _feedback()).card_issued is True
    never = {**_feedback(), "card": "never-issued"}
    assert store.record_feedback("facet-order-sign", "https://ehr.test.example", never).card_issued is False
    # Issued to one client: another client's feedback on it does not count as feedback on an issued card.
    assert store.record_feedback("facet-order-sign", "https://other.example", _feedback()).card_issued is False
    assert store.record_feedback("facet-order-select", "https://ehr.test.example", _feedback()).card_issued is False
    with store._db.session() as db:
        flags = db.rows("SELECT card, client, card_issued FROM feedback ORDER BY id")
    assert [f["card_issued"] for f in flags] == [1, 0, 0, 0]  # all stored; only the first counts in rates


def test_a_calls_order_ids_are_rows_to_look_up(open_store: OpenStore) -> None:
    store = open_store()
    first = store.record_audit(AuditEntry(**{**_entry().__dict__, "decisions": [
        {"decision": "not-covered", "orders": ["sr-1", "sr-2"]}, {"decision": "covered", "orders": ["sr-2"]}]}), [])
    store.record_audit(AuditEntry(**{**_entry("hook-2").__dict__, "decisions": [{"orders": ["sr-3"]}]}), [])
    with store._db.session() as db:
        found = db.rows("SELECT audit_id FROM audit_order WHERE order_id = ?", ("sr-2",))
    assert found == [{"audit_id": first}]


KEY = "k" * 32


def test_without_a_configured_key_the_generated_one_is_never_stored(open_store: OpenStore, caplog) -> None:
    first = open_store().hash_key(None)
    assert len(first) == 64
    assert "will not survive a restart" in caplog.text
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert open_store().hash_key(None) != first  # nothing in the database to read back
    assert open_store().hash_key(KEY) == KEY.encode()
    assert open_store().hash_key(None, "g" * 64) == b"g" * 64  # the gunicorn master's: its workers agree


def test_a_key_an_earlier_release_stored_is_read_until_one_is_configured(open_store: OpenStore, caplog) -> None:
    store = open_store()
    with store._db.session() as db:  # what the earlier release wrote on first start
        db.execute("INSERT INTO settings(name, value) VALUES ('hash_key', ?)", ("s" * 64,))
    assert open_store().hash_key(None) == b"s" * 64  # old and new hashes still match
    assert "Copy it" in caplog.text
    assert open_store().hash_key(KEY) == KEY.encode()  # the environment wins; the stored key is only named
    assert "still stored in the database" in caplog.text


def test_a_refusal_reads_back(open_store: OpenStore) -> None:
    store = open_store()
    store.record_refusal(method="POST", route="/cds-services/<service_id>", service_id="facet-order-sign",
                         client=None, status=401, reason="jwt-refused")
    (row,) = store.recent_refusals()
    assert (row["route"], row["status"], row["reason"], row["client"]) == (
        "/cds-services/<service_id>", 401, "jwt-refused", None)


def test_readiness_sees_a_postgresql_database_go_away(postgres_cluster, postgres_url: str) -> None:
    store = Store(DatabaseUrl.parse(postgres_url))
    assert store.reachable()
    database = conninfo_to_dict(postgres_url)["dbname"]
    postgres_cluster.drop_database(str(database))
    assert not store.reachable()  # answered, not raised: /readyz turns it into 503



@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def test_a_database_from_before_request_ids_gains_the_column(any_url: str) -> None:
    # The schema as shipped before request ids, with one call in it.
    kind = DatabaseUrl.parse(any_url).kind
    shipped_schema.create(any_url, shipped_schema.before_request_ids(kind),
                          "INSERT INTO audit(at, hook, hook_instance, service_id, status, duration_ms, decisions)"
                          " VALUES (1.0, 'order-sign', 'old-call', 'facet-order-sign', 200, 1.0, '[]')")

    store = Store(DatabaseUrl.parse(any_url))  # a worker of the new version starting on it
    store.record_audit(AuditEntry(**{**_entry("new-call").__dict__, "request_id": "req-42"}), [])
    by_instance = {row["hook_instance"]: row for row in store.recent_audit()}
    assert by_instance["new-call"]["request_id"] == "req-42"
    assert by_instance["old-call"]["request_id"] is None  # kept, nullable
    Store(DatabaseUrl.parse(any_url))  # and again: adding it is idempotent
    store.record_refusal(method="GET", route="-", service_id=None, client=None, status=404, reason="no-such-route")
    assert [r["reason"] for r in store.recent_refusals()] == ["no-such-route"]  # the refusal table came too
