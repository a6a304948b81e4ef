"""A small pool of PostgreSQL connections for one process, shared by its threads or greenlets.

Not one connection per thread (as sqlite_connections does): a gevent worker runs a greenlet per connection,
and each PostgreSQL connection is a server process that takes milliseconds to start. Not psycopg_pool: what
the service needs fits here — take an idle connection or open one, hand it back if it is still usable.

Bounded: at most `max_size` connections are open at once (a caller beyond that waits for one, up to
`wait_s`, then gets DatabaseUnavailable: a 503, not a pile of server processes), and every one handed back
is kept for the next caller. A smaller idle cap made busy workers open and close a connection on most calls
under load (a fork of a server process each: the load run's throughput fell as connections were added).

Surviving a database restart: an idle connection is checked before it is handed out, so connections the
restart killed are dropped, not used. The check is a zero-timeout poll of its socket (an idle connection
receives nothing unless the server is ending it: a restart sends "terminating connection" and closes),
plus an empty query, as psycopg_pool sends, once it has sat idle RECHECK_IDLE_S (a silent network drop).
A round trip on every take would cost more than the statement it guards (~0.35 ms on a loaded host). A connection error
while the database is down becomes DatabaseUnavailable, which the api layer answers with a 503.
"""
from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.pq import TransactionStatus

from cds_service.storage.errors import DatabaseUnavailable, one_line

# What a dead or unreachable server looks like (psycopg also files query cancellation and serialization
# failures under OperationalError: retrying those later is the right advice too).
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)

RECHECK_IDLE_S = 10.0

# pg_advisory_xact_lock key held while creating tables; any constant the deployment does not use otherwise.
SCHEMA_LOCK_KEY = 0x0FAC_E7CD5


class PostgresConnections:
    def __init__(self, url: str, *, max_size: int = 8, wait_s: float = 5.0, connect_timeout_s: int = 5) -> None:
        self._url = url
        self._max_size = max_size
        self._wait_s = wait_s
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_size)  # gevent patches it: waiting yields to other calls
        self._idle: list[tuple[psycopg.Connection, float]] = []  # with when each was handed back
        self._owner_pid = os.getpid()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection for the block; `connection.transaction()` groups statements inside it."""
        if self._owner_pid != os.getpid():
            # Forked: the idle sockets belong to the parent (dropped unclosed: psycopg does not close a connection
            # from another process when it is garbage-collected), and slots its threads held are not held here.
            with self._lock:
                if self._owner_pid != os.getpid():
                    self._idle, self._owner_pid = [], os.getpid()
                    self._slots = threading.BoundedSemaphore(self._max_size)
        if not self._slots.acquire(timeout=self._wait_s):
            raise DatabaseUnavailable(f"every database connection of this worker ({self._max_size}) stayed busy "
                                      f"for {self._wait_s:g} s")
        try:
            connection = self._take()
            try:
                yield connection
            except CONNECTION_ERRORS as exc:
                connection.close()  # whatever state it is in, it is not handed out again
                raise DatabaseUnavailable(one_line(exc)) from None
            finally:
                self._give_back(connection)
        finally:
            self._slots.release()

    def create_schema(self, ddl: str) -> None:
        """Runs idempotent DDL (CREATE ... IF NOT EXISTS), one worker at a time.

        Workers starting together would otherwise race: concurrent CREATE TABLE IF NOT EXISTS can still fail
        on PostgreSQL's catalog unique index.
        """
        with self.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            connection.execute(ddl)  # no parameters: psycopg sends it as one multi-statement query

    def _take(self) -> psycopg.Connection:
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, idle_since = self._idle.pop()
            # Checked outside the lock. After a restart every idle one fails and is closed.
            if self._usable(connection, time.monotonic() - idle_since):
                return connection
            connection.close()
        try:
            return psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout_s)
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(one_line(exc)) from None

    @staticmethod
    def _usable(connection: psycopg.Connection, idle_for_s: float) -> bool:
        if connection.closed:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if readable:  # EOF or a message nobody asked for: the server is ending this connection
            return False
        if idle_for_s < RECHECK_IDLE_S:
            return True
        try:
            connection.execute("")  # an empty query: what psycopg_pool's check_connection sends
            return True
        except CONNECTION_ERRORS:
            return False

    def _give_back(self, connection: psycopg.Connection) -> None:
        # A broken connection, or one left inside a transaction, must not be handed to the next caller.
        reusable = not connection.closed and connection.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if reusable and self._owner_pid == os.getpid() and len(self._idle) < self._max_size:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()
