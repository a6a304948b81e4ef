"""The service's database: audit trail, coverage assertions, feedback, and the hash key.

SQLite (stdlib) with WAL so several gunicorn workers share one file; a new connection per operation keeps
it thread-safe. The JWT replay table lives in the same file (security.replay.SqliteReplayStore).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .sqlite_connections import ThreadLocalConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    hook TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    patient_hash TEXT,
    status INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    decisions TEXT NOT NULL,        -- JSON: per procedure decision, revision, criteria not met / needing documentation
    technical_problem TEXT,
    detail TEXT                     -- JSON: fetched/prefetched keys, skipped resources (types/ids only)
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS audit_patient ON audit(patient_hash);
CREATE TABLE IF NOT EXISTS assertion (
    assertion_id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    audit_id INTEGER,
    hook_instance TEXT NOT NULL,
    patient_hash TEXT,
    order_ids TEXT NOT NULL,
    decision TEXT NOT NULL,
    revision TEXT,
    criteria TEXT NOT NULL          -- JSON: the full per-criterion result, for DTR and disputes
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
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


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connections = ThreadLocalConnections(str(path))
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        yield self._connections.get()

    def reachable(self) -> bool:
        try:
            with self._connect() as db:
                db.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    # -- the key for hashing patient ids: configured, else generated once and kept in the database
    def hash_key(self, configured: str | None) -> bytes:
        if configured:
            return configured.encode()
        with self._lock, self._connect() as db:
            db.execute("INSERT OR IGNORE INTO settings(name, value) VALUES ('hash_key', ?)", (secrets.token_hex(32),))
            return db.execute("SELECT value FROM settings WHERE name='hash_key'").fetchone()[0].encode()

    def record_audit(self, entry: AuditEntry, assertions: list[dict[str, Any]]) -> int:
        with self._connect() as db, db:  # one transaction: the call and its assertions land together
            db.execute("BEGIN")
            cur = db.execute(
                "INSERT INTO audit(at, hook, hook_instance, service_id, client, patient_hash, status, duration_ms,"
                " decisions, technical_problem, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (time.time(), entry.hook, entry.hook_instance, entry.service_id, entry.client, entry.patient_hash,
                 entry.status, entry.duration_ms, json.dumps(entry.decisions), entry.technical_problem,
                 json.dumps(entry.detail or {})),
            )
            audit_id = cur.lastrowid
            for a in assertions:
                db.execute(
                    "INSERT OR REPLACE INTO assertion(assertion_id, at, audit_id, hook_instance, patient_hash, order_ids,"
                    " decision, revision, criteria) VALUES (?,?,?,?,?,?,?,?,?)",
                    (a["assertion_id"], time.time(), audit_id, entry.hook_instance, entry.patient_hash,
                     json.dumps(a["order_ids"]), a["decision"], a.get("revision"), json.dumps(a["criteria"])),
                )
            return int(audit_id or 0)

    def record_feedback(self, service_id: str, client: str | None, item: dict[str, Any]) -> bool:
        """Stores one feedback item; False when the same item was stored before (idempotent)."""
        with self._connect() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO feedback(at, service_id, client, card, outcome, outcome_timestamp,"
                " accepted_suggestions, override_reason) VALUES (?,?,?,?,?,?,?,?)",
                (time.time(), service_id, client, item["card"], item["outcome"], item["outcomeTimestamp"],
                 json.dumps(item.get("acceptedSuggestions")) if item.get("acceptedSuggestions") else None,
                 json.dumps(item.get("overrideReason")) if item.get("overrideReason") else None),
            )
            return cur.rowcount == 1

    def recent_audit(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = sqlite3.Row
            rows = cursor.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) | {"decisions": json.loads(r["decisions"]), "detail": json.loads(r["detail"] or "{}")} for r in rows]

    def assertion(self, assertion_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = sqlite3.Row
            row = cursor.execute("SELECT * FROM assertion WHERE assertion_id=?", (assertion_id,)).fetchone()
        if row is None:
            return None
        return dict(row) | {"order_ids": json.loads(row["order_ids"]), "criteria": json.loads(row["criteria"])}

    def feedback_count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])


def patient_hash(key: bytes, patient_id: str | None) -> str | None:
    """Keyed hash of a patient id: logs and audit never carry the id itself."""
    if not patient_id:
        return None
    return hmac.new(key, patient_id.encode(), hashlib.sha256).hexdigest()[:24]
