"""The service's database: audit trail, coverage assertions, feedback, and the hash key.

Two backends, chosen by CDS_DATABASE_URL (contract §2): SQLite (stdlib, WAL, so the gunicorn workers of one
host share a file) and PostgreSQL (psycopg 3, for workers on several hosts or a managed database). The JWT
replay table lives in the same database (security.replay).

One Store class, not one per backend: every statement below is SQL both databases accept (ON CONFLICT and
RETURNING need SQLite >= 3.35; Python 3.11 ships 3.40+), so each is written once, with `?` placeholders.
One exception, for speed: a call's audit is one statement on PostgreSQL (storage/audit_write.py).
What differs — the placeholder, connecting and transactions — sits in the two small backend classes. The
schema itself is the migrations' (storage/migrations/, applied by migrate.py when a Store is made); its
tables and columns are described in storage/README.md.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg

from cds_service.observability.request_context import current_request_id
from cds_service.settings import DatabaseUrl
from cds_service.storage import migrate
from cds_service.storage.audit_write import AuditRows, write_one_statement, write_statements
from cds_service.storage.errors import DatabaseUnavailable, one_line
from cds_service.storage.postgres_connections import PostgresConnections
from cds_service.storage.sqlite_connections import ThreadLocalConnections

log = logging.getLogger("cds_service.storage")

_KEY_HELP = "set CDS_HASH_KEY or CDS_HASH_KEY_FILE (at least 32 characters, e.g. `openssl rand -hex 32`)"
GENERATED_KEY = ("no hash key configured: patient ids are hashed with a random key made at start-up (shared by "
                 "one gunicorn's workers, else by this process only) and never stored; "
                 "the hashes in logs and audit will not survive a restart and cannot be joined across "
                 f"workers or replicas; {_KEY_HELP}")
STORED_KEY_READ = ("no hash key configured: using the hash key stored in the database by an earlier release, "
                   "so old and new hashes match; but the key sits beside the hashes it protects. Copy it "
                   "(SELECT value FROM settings WHERE name = 'hash_key') to CDS_HASH_KEY, then delete it")
STORED_KEY_UNUSED = ("a hash key is still stored in the database (settings.hash_key), beside the hashes; the "
                     "configured key is used. Once CDS_HASH_KEY holds the stored value (or old hashes no longer "
                     "matter), delete it: DELETE FROM settings WHERE name = 'hash_key'")


def _loud(message: str) -> None:
    """A start-up warning operators must not miss: the log, and stderr when no log handler would show it or a
    person watches the terminal (not into JSON logs: they stay one object per line)."""
    log.warning(message)
    if not logging.getLogger().hasHandlers() or sys.stderr.isatty():
        print(f"\n  !!! WARNING: {message}\n", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AuditEntry:
    hook: str
    hook_instance: str
    service_id: str
    client: str | None
    patient_hash: str | None
    status: int
    duration_ms: float
    decisions: list[dict[str, Any]]
    technical_problem: str | None = None
    detail: dict[str, Any] | None = None
    request_id: str | None = None  # None: the current HTTP call's id (observability.request_context)
    card_uuids: tuple[str, ...] = ()  # every card returned: feedback names cards by uuid (issued_card)


@dataclass(frozen=True)
class FeedbackStored:
    stored: bool  # False: this client sent this item before (a retry)
    card_issued: bool  # False: a card uuid this service never issued to this client (kept apart from rates)


class _Session:
    """One connection, running statements written with `?` placeholders in its backend's own style."""

    def __init__(self, connection: Any, placeholder: str) -> None:
        self._connection = connection
        self._placeholder = placeholder

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """A DB-API cursor (sqlite3 and psycopg cursors share fetchone/fetchall/rowcount/description)."""
        return self._connection.execute(statement.replace("?", self._placeholder), params)

    def execute_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._connection.cursor().executemany(statement.replace("?", self._placeholder), rows)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.execute(statement, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class _Backend(Protocol):
    errors: tuple[type[Exception], ...]  # what "database unreachable" looks like

    def session(self) -> AbstractContextManager[_Session]: ...
    def transaction(self) -> AbstractContextManager[_Session]: ...
    def write_audit(self, rows: AuditRows) -> int: ...


class _SqliteBackend:
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadLocalConnections(str(path))

    @contextmanager
    def session(self) -> Iterator[_Session]:
        yield _Session(self._connections.get(), "?")

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        connection = self._connections.get()  # autocommit (isolation_level=None): the transaction is ours to open
        connection.execute("BEGIN")
        try:
            yield _Session(connection, "?")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def write_audit(self, rows: AuditRows) -> int:
        with self.transaction() as db:
            return write_statements(db, rows)


class _PostgresBackend:
    errors: tuple[type[Exception], ...] = (psycopg.Error, DatabaseUnavailable)

    def __init__(self, url: str, pool_size: int) -> None:
        self._connections = PostgresConnections(url, max_size=pool_size)

    @contextmanager
    def session(self) -> Iterator[_Session]:
        with self._connections.connection() as connection:
            yield _Session(connection, "%s")

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        with self._connections.connection() as connection, connection.transaction():
            yield _Session(connection, "%s")

    def write_audit(self, rows: AuditRows) -> int:
        with self.session() as db:  # one statement: its own transaction
            return write_one_statement(db, rows)


def _backend(database: DatabaseUrl | Path, pool_size: int) -> _Backend:
    if isinstance(database, Path):
        return _SqliteBackend(database)
    if database.kind == "postgresql":
        return _PostgresBackend(database.location, pool_size)
    return _SqliteBackend(database.sqlite_path)


class Store:
    def __init__(self, database: DatabaseUrl | Path, *, pool_size: int = 8) -> None:
        """`database`: CDS_DATABASE_URL parsed, or the Path of a SQLite file (tools reading the service's file);
        `pool_size`: PostgreSQL connections this process keeps at most (CDS_DATABASE_POOL_SIZE)."""
        url = DatabaseUrl("sqlite", str(database)) if isinstance(database, Path) else database
        try:
            self.schema = migrate.apply(url)  # every worker: one applies, the others wait and find it done
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # down at start-up: one clear line
            raise DatabaseUnavailable(one_line(exc)) from None
        self._db = _backend(database, pool_size)

    def reachable(self) -> bool:
        try:
            with self._db.session() as db:
                db.execute("SELECT 1").fetchone()
            return True
        except self._db.errors:
            return False

    # -- the key for hashing patient ids: from the environment, never from this database (see hash_key)
    def hash_key(self, configured: str | None, generated: str | None = None) -> bytes:
        """The key of the keyed hash of patient and resource ids.

        `configured` (CDS_HASH_KEY / CDS_HASH_KEY_FILE) always wins. Without it: a key an earlier release
        stored in this database is still read, for continuity of hashes, with a loud warning (the key sits
        beside the hashes it protects); otherwise `generated` (made once by the gunicorn master, so its workers
        agree) or a random key for this process, never stored, also with a loud warning. A stored key is
        never deleted here: the operator copies it to CDS_HASH_KEY (to keep joining old rows) and then
        deletes it (README, "Hash key").
        """
        with self._db.session() as db:
            rows = db.rows("SELECT value FROM settings WHERE name = 'hash_key'")
        stored = str(rows[0]["value"]) if rows else None
        if configured:
            if stored is not None:  # even when equal to the configured key: it still sits beside the hashes
                _loud(STORED_KEY_UNUSED)
            return configured.encode()
        if stored is not None:
            _loud(STORED_KEY_READ)
            return stored.encode()
        _loud(GENERATED_KEY)
        return (generated or secrets.token_hex(32)).encode()

    def record_audit(self, entry: AuditEntry, assertions: list[dict[str, Any]]) -> int:
        """Writes one call, its coverage assertions, issued cards and order ids, all or nothing; its audit id."""
        now = time.time()
        return self._db.write_audit(AuditRows(
            at=now,
            call=(now, entry.hook, entry.hook_instance, entry.service_id, entry.client, entry.patient_hash,
                  entry.status, entry.duration_ms, json.dumps(entry.decisions), entry.technical_problem,
                  json.dumps(entry.detail or {}), entry.request_id or current_request_id()),
            assertions=[(a["assertion_id"], json.dumps(a["order_ids"]), a["decision"], a.get("revision"),
                         json.dumps(a["criteria"])) for a in assertions],
            hook_instance=entry.hook_instance, patient_hash=entry.patient_hash, service_id=entry.service_id,
            client=entry.client, card_uuids=list(dict.fromkeys(entry.card_uuids)),
            order_ids=sorted({str(o) for d in entry.decisions for o in (d.get("orders") or ())}),
        ))

    def record_refusal(self, *, method: str, route: str, service_id: str | None, client: str | None, status: int,
                       reason: str) -> None:
        with self._db.session() as db:
            db.execute("INSERT INTO refusal(at, method, route, service_id, client, status, reason, request_id)"
                       " VALUES (?,?,?,?,?,?,?,?)",
                       (time.time(), method, route, service_id, client, status, reason, current_request_id()))

    def recent_refusals(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._db.session() as db:
            return db.rows("SELECT * FROM refusal ORDER BY id DESC LIMIT ?", (limit,))

    def record_feedback(self, service_id: str, client: str | None, item: dict[str, Any]) -> FeedbackStored:
        """Stores one feedback item, once per client (a retry is not stored again; another client's same item is).

        An item naming a card uuid this service never issued to this client (or, without auth, at all) is
        stored with card_issued = 0: kept for the record, left out of accept/override rates.
        """
        issued_to = " AND client = ?" if client is not None else ""
        with self._db.session() as db:
            issued = bool(db.execute(
                f"SELECT 1 FROM issued_card WHERE card_uuid = ? AND service_id = ?{issued_to}",
                (item["card"], service_id, *([client] if client is not None else [])),
            ).fetchone())
            cursor = db.execute(
                "INSERT INTO feedback(at, service_id, client, client_key, card, card_issued, outcome,"
                " outcome_timestamp, accepted_suggestions, override_reason) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (service_id, client_key, card, outcome, outcome_timestamp) DO NOTHING",
                (time.time(), service_id, client, client or "", item["card"], int(issued), item["outcome"],
                 item["outcomeTimestamp"],
                 json.dumps(item.get("acceptedSuggestions")) if item.get("acceptedSuggestions") else None,
                 json.dumps(item.get("overrideReason")) if item.get("overrideReason") else None),
            )
            return FeedbackStored(stored=cursor.rowcount == 1, card_issued=issued)

    def issued_cards(self, audit_id: int) -> list[str]:
        with self._db.session() as db:
            return [str(r["card_uuid"]) for r in db.rows(
                "SELECT card_uuid FROM issued_card WHERE audit_id = ? ORDER BY card_uuid", (audit_id,))]

    def purge_before(self, cutoff: float, *, batch: int = 2000) -> dict[str, int]:
        """Deletes every audit row (calls, their cards, orders and assertions, refusals, feedback) older than
        `cutoff` (epoch seconds), in batches so that no transaction holds the tables for long. Idempotent:
        workers purging at once only share the work."""
        deleted = {"audit": 0, "assertion": 0, "refusal": 0, "feedback": 0}
        oldest_calls = "SELECT id FROM audit WHERE at < ? ORDER BY id LIMIT ?"
        while True:
            with self._db.transaction() as db:
                db.execute(f"DELETE FROM issued_card WHERE audit_id IN ({oldest_calls})", (cutoff, batch))
                db.execute(f"DELETE FROM audit_order WHERE audit_id IN ({oldest_calls})", (cutoff, batch))
                count = db.execute(f"DELETE FROM audit WHERE id IN ({oldest_calls})", (cutoff, batch)).rowcount
            deleted["audit"] += count
            if count < batch:
                break
        for table, key in (("assertion", "assertion_id"), ("refusal", "id"), ("feedback", "id"),
                           ("issued_card", "card_uuid")):
            while True:
                with self._db.session() as db:
                    count = db.execute(f"DELETE FROM {table} WHERE {key} IN"
                                       f" (SELECT {key} FROM {table} WHERE at < ? LIMIT ?)", (cutoff, batch)).rowcount
                if table in deleted:
                    deleted[table] += count
                if count < batch:
                    break
        return deleted

    def claim_periodic_job(self, name: str, now: float, every_s: float) -> bool:
        """True for exactly one caller per `every_s` across every worker and replica sharing this database:
        the one whose update of settings.<name> (the last run's time) went through."""
        with self._db.session() as db:
            won = db.execute(
                "INSERT INTO settings(name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                " WHERE CAST(settings.value AS DOUBLE PRECISION) <= ? RETURNING name",
                (name, repr(now), now - every_s),
            ).fetchone()
        return won is not None

    def recent_audit(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._db.session() as db:
            rows = db.rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [r | {"decisions": json.loads(r["decisions"]), "detail": json.loads(r["detail"] or "{}")} for r in rows]

    def assertion(self, assertion_id: str) -> dict[str, Any] | None:
        with self._db.session() as db:
            rows = db.rows("SELECT * FROM assertion WHERE assertion_id = ?", (assertion_id,))
        if not rows:
            return None
        row = rows[0]
        return row | {"order_ids": json.loads(row["order_ids"]), "criteria": json.loads(row["criteria"])}

    def feedback_count(self) -> int:
        with self._db.session() as db:
            return int(db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])


def patient_hash(key: bytes, patient_id: str | None) -> str | None:
    """Keyed hash of a patient id: logs and audit never carry the id itself."""
    if not patient_id:
        return None
    return hmac.new(key, patient_id.encode(), hashlib.sha256).hexdigest()[:24]


def resource_ref(key: bytes, resource_type: str | None, resource_id: str | None) -> str:
    """`Type/#<keyed hash>` for the audit: a resource id may be a patient id (Patient/..), never stored raw."""
    return f"{resource_type or '?'}/" + (f"#{patient_hash(key, resource_id)}" if resource_id else "?")
