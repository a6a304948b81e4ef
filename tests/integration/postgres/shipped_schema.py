"""Databases as earlier releases left them, built the way those releases built them (for migration tests).

The release before versioned migrations ran store.SCHEMA (migration 0001 holds it verbatim) with
CREATE ... IF NOT EXISTS on every start, through its own connection code: sqlite3's executescript, or
one multi-statement psycopg execute. No yoyo tables: that is how a database of that release looks.
"""
from __future__ import annotations

import sqlite3
from importlib import resources

import psycopg

from cds_service.settings import DatabaseUrl


def shipped_ddl(kind: str) -> str:
    path = resources.files("cds_service.storage") / "migrations" / kind / "0001_shipped-schema.sql"
    return path.read_text(encoding="utf-8")


def before_request_ids(kind: str) -> str:
    """The first release's schema: no refusal table, no audit.request_id."""
    ddl = shipped_ddl(kind)
    refusals = slice(ddl.index("-- Every refused call"), ddl.index("CREATE TABLE IF NOT EXISTS feedback"))
    ddl = ddl.replace(ddl[refusals], "")
    ddl = ddl.replace("    request_id TEXT\n", "").replace("detail TEXT,", "detail TEXT ")
    assert "request_id" not in ddl
    return ddl


def create(url: str, ddl: str, *rows: str) -> None:
    """Runs `ddl` as the old release did, then the INSERT statements `rows`."""
    database = DatabaseUrl.parse(url)
    if database.kind == "sqlite":
        database.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(database.sqlite_path, isolation_level=None)
        try:
            connection.executescript(ddl)
            for row in rows:
                connection.execute(row)
        finally:
            connection.close()
        return
    with psycopg.connect(database.location, autocommit=True) as pg:
        pg.execute(ddl.encode())  # bytes: sent as one query, no placeholder parsing (as psycopg did for str)
        for row in rows:
            pg.execute(row.encode())
