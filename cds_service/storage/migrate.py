"""Versioned schema migrations (yoyo-migrations): plain SQL files in storage/migrations/<backend>/NNNN_*.sql.

Applied at start-up by every worker (Store() calls `apply`) and by `python -m cds_service migrate`. Several
workers or replicas starting together are safe: yoyo takes its lock (a row in `yoyo_lock`) before applying,
the others wait for it (LOCK_TIMEOUT_S), then find nothing left to apply. Forward only: a release never
needs a rollback file, because each migration only adds (a column, a table, an index) or rebuilds in place.

One folder per backend, not one dialect-neutral file: the auto-numbered key, JSON functions, timestamps
and constraint changes are written differently, and each backend's SQL is then plain and reviewable.
Files are applied in name order (no `-- depends:`: yoyo resolves those by id across every folder read
in the process, which would mix the two backends' files).

Databases created before migrations existed (store.SCHEMA of that release, with no yoyo tables) are
already at 0001: its statements are all IF NOT EXISTS, so applying it there changes nothing and records
it. Older still ones, from before `audit.request_id`, first get that column (`_before_0001`).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cds_service.settings import DatabaseUrl

LOCK_TIMEOUT_S = 120  # a slow migration of a large audit on PostgreSQL; other workers wait this long


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
            connection.execute("ALTER TABLE IF EXISTS audit ADD COLUMN IF NOT EXISTS request_id TEXT")
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


def apply(database: DatabaseUrl) -> MigrationState:
    """Brings the database to the newest schema; returns what was applied before and is applied now."""
    _before_0001(database)
    backend, migrations = _backend_and_migrations(database)
    try:
        with backend.lock(timeout=LOCK_TIMEOUT_S):
            backend.apply_migrations(backend.to_apply(migrations))
        return _state(backend, migrations)
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
