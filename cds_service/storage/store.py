"""The service's database: audit trail, coverage assertions, feedback, and the hash key.

Two backends, chosen by CDS_DATABASE_URL (contract §2): SQLite (stdlib, WAL, so the gunicorn workers of one
host share a file) and PostgreSQL (psycopg 3, for workers on several hosts or a managed database). The JWT
replay table lives in the same database (security.replay).

One Store class, not one per backend: every statement below is SQL both databases accept (ON CONFLICT and
RETURNING need SQLite >= 3.35; Python 3.11 ships 3.40+), so each is written once, with `?` placeholders.
What differs — the placeholder, the auto-numbered key column, connecting and transactions — sits in the two
small backend classes.
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
from cds_service.storage.errors import DatabaseUnavailable
from cds_service.storage.postgres_connections import PostgresConnections
from cds_service.storage.sqlite_connections import ThreadLocalConnections

log = logging.getLogger("cds_service.storage")

# DOUBLE PRECISION, not REAL: REAL is 4 bytes in PostgreSQL, too coarse for epoch seconds (SQLite stores 8 either way).
SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id {id_column},
    at DOUBLE PRECISION NOT NULL,
    hook TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    patient_hash TEXT,
    status INTEGER NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    decisions TEXT NOT NULL,        -- JSON: per procedure decision, revision, criteria not met / needing documentation
    technical_problem TEXT,
    detail TEXT,                    -- JSON: fetched/prefetched keys, skipped resources (types/ids only)
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS audit_patient ON audit(patient_hash);
CREATE TABLE IF NOT EXISTS assertion (
    assertion_id TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    audit_id BIGINT,
    hook_instance TEXT NOT NULL,
    patient_hash TEXT,
    order_ids TEXT NOT NULL,
    decision TEXT NOT NULL,
    revision TEXT,
    criteria TEXT NOT NULL          -- JSON: the full per-criterion result, for DTR and disputes
);
-- Every refused call (CRD: a log of every call). The class of the refusal only: never the body, the token,
-- the diagnostics text or the raw path (any of them may carry an id).
CREATE TABLE IF NOT EXISTS refusal (
    id {id_column},
    at DOUBLE PRECISION NOT NULL,
    request_id TEXT,                -- the call's X-Request-ID (its access line carries the same)
    method TEXT NOT NULL,
    route TEXT NOT NULL,            -- the matched URL rule, e.g. /cds-services/<service_id>; '-' when none matched
    service_id TEXT,                -- only a service the service offers
    client TEXT,                    -- the verified client's iss, when the JWT was verified
    status INTEGER NOT NULL,
    reason TEXT NOT NULL            -- a fixed class, e.g. jwt-refused, body-too-large
);
CREATE INDEX IF NOT EXISTS refusal_at ON refusal(at);
CREATE TABLE IF NOT EXISTS feedback (
    id {id_column},
    at DOUBLE PRECISION NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT,
    override_reason TEXT,
    UNIQUE(service_id, card, outcome, outcome_timestamp)
);
"""

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


# (table, column, type) added to SCHEMA since databases were first created with it. audit.request_id: the
# call's X-Request-ID, tying its log lines, access line and this row together (with hook_instance).
ADDED_COLUMNS = (("audit", "request_id", "TEXT"),)

_ASSERTION_COLUMNS = ("assertion_id", "at", "audit_id", "hook_instance", "patient_hash", "order_ids", "decision",
                      "revision", "criteria")
# A re-recorded assertion id replaces the earlier row (the behaviour of SQLite's former INSERT OR REPLACE).
_UPSERT_ASSERTION = (
    f"INSERT INTO assertion({', '.join(_ASSERTION_COLUMNS)}) VALUES ({', '.join('?' for _ in _ASSERTION_COLUMNS)})"
    " ON CONFLICT (assertion_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _ASSERTION_COLUMNS[1:])
)


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


class _Session:
    """One connection, running statements written with `?` placeholders in its backend's own style."""

    def __init__(self, connection: Any, placeholder: str) -> None:
        self._connection = connection
        self._placeholder = placeholder

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """A DB-API cursor (sqlite3 and psycopg cursors share fetchone/fetchall/rowcount/description)."""
        return self._connection.execute(statement.replace("?", self._placeholder), params)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.execute(statement, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class _Backend(Protocol):
    id_column: str  # DDL of an auto-numbered primary key
    errors: tuple[type[Exception], ...]  # what "database unreachable" looks like

    def session(self) -> AbstractContextManager[_Session]: ...
    def transaction(self) -> AbstractContextManager[_Session]: ...
    def create_schema(self, ddl: str) -> None: ...
    def add_column(self, table: str, column: str, column_type: str) -> None: ...


class _SqliteBackend:
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
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

    def create_schema(self, ddl: str) -> None:
        self._connections.get().executescript(ddl)

    def add_column(self, table: str, column: str, column_type: str) -> None:
        connection = self._connections.get()
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            try:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {column_type}")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise


class _PostgresBackend:
    id_column = "BIGSERIAL PRIMARY KEY"
    errors: tuple[type[Exception], ...] = (psycopg.Error, DatabaseUnavailable)

    def __init__(self, url: str) -> None:
        self._connections = PostgresConnections(url)

    @contextmanager
    def session(self) -> Iterator[_Session]:
        with self._connections.connection() as connection:
            yield _Session(connection, "%s")

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        with self._connections.connection() as connection, connection.transaction():
            yield _Session(connection, "%s")

    def create_schema(self, ddl: str) -> None:
        self._connections.create_schema(ddl)

    def add_column(self, table: str, column: str, column_type: str) -> None:
        self._connections.create_schema(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {column_type}")


def _backend(database: DatabaseUrl | Path) -> _Backend:
    if isinstance(database, Path):
        return _SqliteBackend(database)
    if database.kind == "postgresql":
        return _PostgresBackend(database.location)
    return _SqliteBackend(database.sqlite_path)


class Store:
    def __init__(self, database: DatabaseUrl | Path) -> None:
        """`database`: CDS_DATABASE_URL parsed, or the Path of a SQLite file (tools reading the service's file)."""
        self._db = _backend(database)
        self._db.create_schema(SCHEMA.format(id_column=self._db.id_column))
        # Columns added after the first release: databases created before them get them here.
        for table, column, column_type in ADDED_COLUMNS:
            self._db.add_column(table, column, column_type)

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
        with self._db.transaction() as db:  # one transaction: the call and its assertions land together
            audit_id = int(db.execute(
                "INSERT INTO audit(at, hook, hook_instance, service_id, client, patient_hash, status, duration_ms,"
                " decisions, technical_problem, detail, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (time.time(), entry.hook, entry.hook_instance, entry.service_id, entry.client, entry.patient_hash,
                 entry.status, entry.duration_ms, json.dumps(entry.decisions), entry.technical_problem,
                 json.dumps(entry.detail or {}), entry.request_id or current_request_id()),
            ).fetchone()[0])
            for a in assertions:
                db.execute(
                    _UPSERT_ASSERTION,
                    (a["assertion_id"], time.time(), audit_id, entry.hook_instance, entry.patient_hash,
                     json.dumps(a["order_ids"]), a["decision"], a.get("revision"), json.dumps(a["criteria"])),
                )
            return audit_id

    def record_refusal(self, *, method: str, route: str, service_id: str | None, client: str | None, status: int,
                       reason: str) -> None:
        with self._db.session() as db:
            db.execute("INSERT INTO refusal(at, method, route, service_id, client, status, reason, request_id)"
                       " VALUES (?,?,?,?,?,?,?,?)",
                       (time.time(), method, route, service_id, client, status, reason, current_request_id()))

    def recent_refusals(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._db.session() as db:
            return db.rows("SELECT * FROM refusal ORDER BY id DESC LIMIT ?", (limit,))

    def record_feedback(self, service_id: str, client: str | None, item: dict[str, Any]) -> bool:
        """Stores one feedback item; False when the same item was stored before (idempotent)."""
        with self._db.session() as db:
            cursor = db.execute(
                "INSERT INTO feedback(at, service_id, client, card, outcome, outcome_timestamp,"
                " accepted_suggestions, override_reason) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT (service_id, card, outcome, outcome_timestamp) DO NOTHING",
                (time.time(), service_id, client, item["card"], item["outcome"], item["outcomeTimestamp"],
                 json.dumps(item.get("acceptedSuggestions")) if item.get("acceptedSuggestions") else None,
                 json.dumps(item.get("overrideReason")) if item.get("overrideReason") else None),
            )
            return cursor.rowcount == 1

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
