"""Versioned schema migrations (yoyo-migrations): plain SQL files in storage/migrations/<backend>/NNNN_*.sql.

Applied at start-up by every worker (Store() calls `apply`) and by `python -m cds_service migrate`. Several
workers or replicas starting together are safe: one migrates, the others wait (LOCK_TIMEOUT_S), then find
nothing left to apply. Two locks, because yoyo's own (a row in `yoyo_lock`) outlives a process killed while
holding it, and would then stop every later start-up: first a lock the system drops with its holder (a
PostgreSQL session advisory lock; for SQLite, which is one host, an flock on a file beside the database),
under which any yoyo_lock row left is a dead process's and is cleared; then yoyo's. Each migration runs in
one transaction (DDL is transactional in both), so a killed migration leaves nothing half done.
Forward only: each migration adds (a column, a table, an index) or rebuilds a table with its rows.

One folder per backend, not one dialect-neutral file: the auto-numbered key, JSON functions, timestamps
and constraint changes are written differently, and each backend's SQL is then plain and reviewable.
Files are applied in name order (no `-- depends:`: yoyo resolves those by id across every folder read
in the process, which would mix the two backends' files).

Databases created before migrations existed (store.SCHEMA of that release, with no yoyo tables) are
already at 0001: its statements are all IF NOT EXISTS, so applying it there changes nothing and records
it. Older still ones, from before `audit.request_id`, first get that column (`_before_0001`).
"""
from __future__ import annotations

import fcntl
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cds_service.settings import DatabaseUrl

log = logging.getLogger("cds_service.storage.migrate")
logging.getLogger("yoyo").setLevel(logging.WARNING)  # a line per SQL statement otherwise; ours says what was applied

LOCK_TIMEOUT_S = 120  # a slow migration of a large audit on PostgreSQL; other workers wait this long
ADVISORY_LOCK_KEY = 0x0FAC_E7CD6  # pg_advisory_lock key of migrations (postgres_connections uses ...CD5)


@dataclass(frozen=True)
class MigrationState:
    applied: list[str]
    pending: list[str]

    @property
    def version(self) -> str:
        """The schema version: the last migration applied, e.g. '0003' ('none' for an empty database)."""
        return self.applied[-1].split("_", 1)[0] if self.applied else "none"


def _folder(database: DatabaseUrl) -> str:
    return str(resources.files("cds_service.storage") / "migrations" / database.kind)


def yoyo_uri(database: DatabaseUrl) -> str:
    """The URI yoyo wants: its psycopg 3 backend for PostgreSQL, an absolute file path for SQLite."""
    if database.kind == "postgresql":
        _, _, rest = database.location.partition("://")
        return f"postgresql+psycopg://{rest}"
    return "sqlite:///" + quote(str(Path(database.location).resolve()))


def _before_0001(database: DatabaseUrl) -> None:
    """A database from before request ids: give audit its request_id column, so 0001 describes it."""
    if database.kind == "postgresql":
        import psycopg

        with psycopg.connect(database.location, autocommit=True) as connection:
            # Looked up first: even a no-op ALTER takes an exclusive lock on audit, on every start-up.
            columns = {str(row[0]) for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = 'audit'")}
            if columns and "request_id" not in columns:
                connection.execute("ALTER TABLE audit ADD COLUMN IF NOT EXISTS request_id TEXT")
        return
    path = Path(database.location)
    if not path.exists():
        return
    lite = sqlite3.connect(path, timeout=30)
    try:
        present = {row[1] for row in lite.execute("PRAGMA table_info(audit)")}
        if present and "request_id" not in present:
            try:
                lite.execute("ALTER TABLE audit ADD COLUMN request_id TEXT")
            except sqlite3.OperationalError as exc:  # another worker added it first
                if "duplicate column" not in str(exc):
                    raise
    finally:
        lite.close()


def _backend_and_migrations(database: DatabaseUrl) -> tuple[Any, Any]:
    from yoyo import get_backend, read_migrations

    if database.kind == "sqlite":
        Path(database.location).parent.mkdir(parents=True, exist_ok=True)
    return get_backend(yoyo_uri(database)), read_migrations(_folder(database))


@contextmanager
def _exclusive(database: DatabaseUrl) -> Iterator[None]:
    """One migrator per database; the lock goes with its holder, however it dies."""
    if database.kind == "postgresql":
        import psycopg

        with psycopg.connect(database.location, autocommit=True) as connection:
            connection.execute(f"SET lock_timeout = '{int(LOCK_TIMEOUT_S)}s'")
            connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            yield  # closing the connection releases it
        return
    path = Path(database.location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate-lock", "a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process is migrating {path.name} ({LOCK_TIMEOUT_S} s)") from None
                time.sleep(0.05)
        yield  # closing the file (or the process ending) releases it


def apply(database: DatabaseUrl) -> MigrationState:
    """Brings the database to the newest schema; returns what was applied before and is applied now."""
    with _exclusive(database):
        _before_0001(database)
        backend, migrations = _backend_and_migrations(database)
        try:
            backend.break_lock()  # under _exclusive, a yoyo_lock row can only be a dead migrator's
            with backend.lock(timeout=LOCK_TIMEOUT_S):
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
            state = _state(backend, migrations)
            if pending:  # once per deployment: the worker that did it
                log.info("database schema migrated to %s (applied %s)", state.version,
                         ", ".join(m.id for m in pending))
            return state
        finally:
            backend.connection.close()


def state(database: DatabaseUrl) -> MigrationState:
    backend, migrations = _backend_and_migrations(database)
    try:
        return _state(backend, migrations)
    finally:
        backend.connection.close()


def break_lock(database: DatabaseUrl) -> None:
    """Removes a migration lock left by a process killed while migrating (nothing else removes it)."""
    backend, _ = _backend_and_migrations(database)
    try:
        backend.break_lock()
    finally:
        backend.connection.close()


def _state(backend: Any, migrations: Any) -> MigrationState:
    applied = set(backend.get_applied_migration_hashes())
    ids = [m.id for m in migrations]
    return MigrationState(applied=[i for m, i in zip(migrations, ids, strict=True) if m.hash in applied],
                          pending=[i for m, i in zip(migrations, ids, strict=True) if m.hash not in applied])
