"""Replay protection for client JWTs: each (iss, jti) is accepted once until the token has expired.

The SQLite or PostgreSQL store is the one every worker of a deployment shares (contract.md §2), in the
database CDS_DATABASE_URL names; the in-memory store suits a single process and tests. All take wall-clock
epoch seconds, like the JWT `exp` claim.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Protocol

import psycopg

from cds_service.storage.postgres_connections import PostgresConnections
from cds_service.storage.sqlite_connections import ThreadLocalConnections

Clock = Callable[[], float]


class ReplayStore(Protocol):
    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record (iss, jti) until `expires_at`; False when it is already recorded and not yet expired."""
        ...


class InMemoryReplayStore:
    """A per-process replay store; thread-safe."""

    def __init__(self, *, clock: Clock = time.time, sweep_at: int = 1024) -> None:
        self._clock = clock
        self._min_sweep_at = sweep_at
        self._sweep_at = sweep_at
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            previous = self._seen.get((iss, jti))
            if previous is not None and previous > now:
                return False
            self._seen[(iss, jti)] = expires_at
            if len(self._seen) >= self._sweep_at:
                self._seen = {key: until for key, until in self._seen.items() if until > now}
                # Doubling the mark keeps sweeps amortised O(1) even when most entries are still live.
                self._sweep_at = max(self._min_sweep_at, 2 * len(self._seen))
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


# One schema for both databases. DOUBLE PRECISION, not REAL: PostgreSQL's REAL is 4 bytes, which rounds
# epoch seconds to minutes (SQLite stores 8 bytes for either name).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jwt_replay (
    iss TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS jwt_replay_expires_at ON jwt_replay (expires_at);
"""


class SqliteReplayStore:
    """A replay store in a SQLite file, safe to share between threads and processes.

    Each call opens its own connection (no connection is shared across threads) and writes in a
    `BEGIN IMMEDIATE` transaction, so two workers racing on the same jti cannot both succeed: the
    primary key makes the second INSERT fail.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = time.time,
        purge_interval_s: float = 60.0,
        purge_batch: int = 1000,
        busy_timeout_s: float = 5.0,
    ) -> None:
        if os.fspath(path) in ("", ":memory:"):
            raise ValueError("SqliteReplayStore needs a file path: an in-memory database is per connection")
        self._path = os.fspath(path)
        self._clock = clock
        self._purge_interval_s = purge_interval_s
        self._purge_batch = purge_batch
        self._busy_timeout_s = busy_timeout_s
        self._next_purge = 0.0
        self._connections = ThreadLocalConnections(self._path, timeout_s=busy_timeout_s)
        self._connections.get().executescript(_SCHEMA)

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        connection = self._connections.get()
        try:
            connection.execute("BEGIN IMMEDIATE")
            # An expired record of the same (iss, jti) no longer protects anything: let it be reused.
            connection.execute(
                "DELETE FROM jwt_replay WHERE iss = ? AND jti = ? AND expires_at <= ?", (iss, jti, now)
            )
            try:
                connection.execute(
                    "INSERT INTO jwt_replay (iss, jti, expires_at) VALUES (?, ?, ?)", (iss, jti, expires_at)
                )
            except sqlite3.IntegrityError:
                connection.execute("ROLLBACK")
                return False
            if now >= self._next_purge:  # racy across threads at worst means an extra purge
                self._purge_expired(connection, now)
            connection.execute("COMMIT")
            return True
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def count(self) -> int:
        """Rows currently stored, expired or not (for tests and metrics)."""
        return self._connections.get().execute("SELECT COUNT(*) FROM jwt_replay").fetchone()[0]

    def _purge_expired(self, connection: sqlite3.Connection, now: float) -> None:
        # Bounded batches keep one unlucky request from paying for a large backlog.
        connection.execute(
            "DELETE FROM jwt_replay WHERE rowid IN "
            "(SELECT rowid FROM jwt_replay WHERE expires_at <= ? LIMIT ?)",
            (now, self._purge_batch),
        )
        self._next_purge = now + self._purge_interval_s


class PostgresReplayStore:
    """A replay store in PostgreSQL, shared by every worker and host of a deployment.

    One statement decides, so no explicit transaction is needed: the INSERT adds (iss, jti), or takes over an
    expired row of that key (ON CONFLICT ... DO UPDATE ... WHERE expired), or changes nothing because a live
    row exists. A concurrent INSERT of the same key waits for the first one to commit and then sees the
    conflict, so of two racing workers exactly one writes a row — and only a written row means "fresh".
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = time.time,
        purge_interval_s: float = 60.0,
        purge_batch: int = 1000,
        pool_size: int = 4,
    ) -> None:
        self._clock = clock
        self._purge_interval_s = purge_interval_s
        self._purge_batch = purge_batch
        self._next_purge = 0.0
        self._connections = PostgresConnections(url, max_size=pool_size)
        self._connections.create_schema(_SCHEMA)

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        with self._connections.connection() as connection:
            written = connection.execute(
                "INSERT INTO jwt_replay (iss, jti, expires_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE jwt_replay.expires_at <= %s",
                (iss, jti, expires_at, now),
            ).rowcount == 1
            if now >= self._next_purge:  # racy across threads at worst means an extra purge
                self._purge_expired(connection, now)
        return written

    def count(self) -> int:
        """Rows currently stored, expired or not (for tests and metrics)."""
        with self._connections.connection() as connection:
            row = connection.execute("SELECT COUNT(*) FROM jwt_replay").fetchone()
        return int(row[0]) if row else 0

    def _purge_expired(self, connection: psycopg.Connection, now: float) -> None:
        # Bounded batches keep one unlucky request from paying for a large backlog.
        connection.execute(
            "DELETE FROM jwt_replay WHERE (iss, jti) IN "
            "(SELECT iss, jti FROM jwt_replay WHERE expires_at <= %s LIMIT %s)",
            (now, self._purge_batch),
        )
        self._next_purge = now + self._purge_interval_s
