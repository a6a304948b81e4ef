"""The per-worker PostgreSQL pool: connections are reused, never more than its size are open, and a caller
who finds every one busy gets DatabaseUnavailable (answered 503) after a bounded wait, not a new server process."""
from __future__ import annotations

import os
import threading

import psycopg
import pytest

from cds_service.storage.errors import DatabaseUnavailable
from cds_service.storage.postgres_connections import PostgresConnections


def _backend_pids(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as watcher:
        row = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


def test_busy_callers_reuse_connections_instead_of_opening_new_ones(postgres_url: str) -> None:
    pool = PostgresConnections(postgres_url, max_size=3)
    seen: set[int] = set()
    for _ in range(4):  # four rounds of three concurrent users, as a loaded worker has them
        with pool.connection() as a, pool.connection() as b, pool.connection() as c:
            seen |= {a.info.backend_pid, b.info.backend_pid, c.info.backend_pid}
    assert len(seen) == 3  # the same three server processes served every round
    assert _backend_pids(postgres_url) == 3


def test_a_caller_beyond_the_pool_size_waits_for_a_connection(postgres_url: str) -> None:
    pool = PostgresConnections(postgres_url, max_size=1, wait_s=5)
    got: list[int] = []

    def second_caller() -> None:
        with pool.connection() as connection:
            got.append(connection.info.backend_pid)

    with pool.connection() as first:
        pid = first.info.backend_pid
        waiter = threading.Thread(target=second_caller)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and not got  # waiting, not connecting on its own
    waiter.join(5)
    assert got == [pid]  # it got the connection handed back


def test_every_connection_busy_past_the_wait_is_database_unavailable(postgres_url: str) -> None:
    pool = PostgresConnections(postgres_url, max_size=1, wait_s=0.2)
    with pool.connection():
        with pytest.raises(DatabaseUnavailable, match=r"every database connection of this worker \(1\) stayed busy"):
            with pool.connection():
                pass
    with pool.connection() as connection:  # free again once handed back
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_forked_child_gets_every_slot_and_none_of_the_parents_sockets(postgres_url: str) -> None:
    pool = PostgresConnections(postgres_url, max_size=1, wait_s=0.5)
    with pool.connection() as held:  # the parent holds its only slot while forking
        parent_pid = held.info.backend_pid
        child = os.fork()
        if child == 0:  # the child must get a connection of its own at once
            try:
                with pool.connection() as mine:
                    os._exit(0 if mine.info.backend_pid != parent_pid else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
