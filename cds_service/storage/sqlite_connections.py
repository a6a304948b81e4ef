"""One SQLite connection per thread and process, reused across calls.

Opening and closing a connection per operation cost ~5 ms under load (bench/); a connection is not safe
to share between threads or across a fork, so each (process, thread) keeps its own.
"""
from __future__ import annotations

import os
import sqlite3
import threading


class ThreadLocalConnections:
    def __init__(self, path: str, *, timeout_s: float = 5.0):
        self._path = path
        self._timeout_s = timeout_s
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        # isolation_level=None: callers issue BEGIN/COMMIT themselves where they need a transaction.
        connection = sqlite3.connect(self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=True)
        connection.execute("PRAGMA journal_mode=WAL")  # readers and the writer do not block each other
        connection.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, far fewer fsyncs
        self._local.held = (os.getpid(), connection)
        return connection
